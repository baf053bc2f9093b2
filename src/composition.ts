import { type AuthService, createAuthService } from "./auth/auth.service";
import { createCachedSessionsRepository } from "./auth/sessions.cache";
import { createSessionsRepository, type SessionsRepository } from "./auth/sessions.repository";
import { createKvCache, instrumentKV } from "./cache/kv-cache";
import { createMemoryCache, type MemoryCache } from "./cache/memory-cache";
import { createStalePurgesRepository } from "./cache/outbox";
import { createPurger, type Purger } from "./cache/purger";
import type { CacheTiers } from "./cache/tiers";
import type { AppConfig, Bindings } from "./config";
import type { DatabaseBackend } from "./db/backend";
import type { Db } from "./db/client";
import type { User } from "./db/schema";
import { createReadinessProbe, type ReadinessProbe } from "./health/health.service";
import { createIdempotencyRepository } from "./idempotency/idempotency.repository";
import { createIdempotencyService, type IdempotencyService } from "./idempotency/idempotency.service";
import { deriveHmacKey } from "./lib/keys";
import type { RequestMetrics } from "./lib/metrics";
import { createPasswordHasher, type PasswordHasher } from "./lib/password";
import { createRateLimiter, type RateLimiter } from "./limits/rate-limiter";
import { createCachedUsersRepository } from "./users/users.cache";
import { createUsersRepository, type UsersRepository } from "./users/users.repository";
import { createUsersService, type UsersService } from "./users/users.service";

/** Every service of a request; each router's env names the ones its handlers use. */
export type Services = {
  users: UsersService;
  auth: AuthService;
  readiness: ReadinessProbe;
  /** Null when the cache is off (CACHE_ENABLED=false). */
  purger: Purger | null;
  limiter: RateLimiter;
  idempotency: IdempotencyService;
};

/** What a request brings to the graph: its bindings, checked configuration, metrics and waitUntil. */
export type RequestScope = {
  /** The database, as the entry point chose it. */
  backend: DatabaseBackend;
  env: Bindings;
  config: AppConfig;
  metrics: RequestMetrics;
  /** Work to finish after the response (ctx.waitUntil). */
  defer: (task: Promise<unknown>) => void;
};

// What lives as long as the isolate: the memory tier, the hasher (its imported pepper key) and
// derived keys. Everything else is per request.
type IsolateState = {
  memory: MemoryCache<User>;
  hasher: PasswordHasher;
  fingerprintKey: () => Promise<CryptoKey>;
};

const MEMORY_CACHE_MAX_ENTRIES = 1000;
const KV_TTL_SECONDS = 3600;
const KV_READ_TIMEOUT_MS = 300;

// Keyed by the bindings object, which workerd hands unchanged to every request of an isolate
// (a test pins this: the second read through the Worker's entry point is a memory hit). Tests
// that swap bindings get fresh state, as a new isolate would.
const isolates = new WeakMap<object, IsolateState>();

function isolateState(env: Bindings, config: AppConfig): IsolateState {
  let state = isolates.get(env);
  if (!state) {
    state = {
      memory: createMemoryCache<User>({
        maxEntries: MEMORY_CACHE_MAX_ENTRIES,
        ttlMs: config.memoryCacheTtlSeconds * 1000,
      }),
      hasher: createPasswordHasher({ pepper: config.passwordPepper }),
      fingerprintKey: once(() => deriveHmacKey(config.appSecret, "idempotency-fingerprint")),
    };
    isolates.set(env, state);
  }
  return state;
}

/**
 * The composition root: the one place a request's object graph is built. Bindings are wrapped to
 * report to the request's metrics, repositories sit over them, the cache decorates the
 * repositories, services sit over those. Each service is built on its first use, so a request
 * pays only for what it touches (an anonymous profile read never builds the auth service).
 */
export function createServices(scope: RequestScope): Services {
  const { backend, env, config, metrics } = scope;
  const { memory, hasher, fingerprintKey } = isolateState(env, config);
  const repositories = once(() => composeRepositories(scope, backend.open(env, config, metrics), memory));
  const limiter = once(() => createRateLimiter(env));
  const users = once(() => createUsersService({ users: repositories().users, hasher, config, limiter: limiter() }));
  const auth = once(() => {
    const { users, sessions } = repositories();
    return createAuthService({ users, sessions, hasher, config, limiter: limiter() });
  });
  const idempotency = once(() =>
    createIdempotencyService(createIdempotencyRepository(repositories().db), { fingerprintKey }),
  );
  const readiness = once(() =>
    createReadinessProbe({
      pingDatabase: () => backend.ping(env, config),
      pingCache: () => env.CACHE.get("readiness-probe"),
    }),
  );
  return {
    get users() {
      return users();
    },
    get auth() {
      return auth();
    },
    get limiter() {
      return limiter();
    },
    get idempotency() {
      return idempotency();
    },
    get readiness() {
      return readiness();
    },
    get purger() {
      return repositories().purger;
    },
  };
}

type Repositories = { db: Db; users: UsersRepository; sessions: SessionsRepository; purger: Purger | null };

// The repositories, decorated by the cache tiers when the cache is on.
function composeRepositories(
  { env, config, metrics, defer }: RequestScope,
  db: Db,
  memory: MemoryCache<User>,
): Repositories {
  const recordStale = config.cacheEnabled;
  const users = createUsersRepository(db, { recordStale });
  const sessions = createSessionsRepository(db, { recordStale });
  if (!config.cacheEnabled) return { db, users, sessions, purger: null };

  const kv = createKvCache(instrumentKV(env.CACHE, metrics), { readTimeoutMs: KV_READ_TIMEOUT_MS });
  const purger = createPurger({
    kv,
    memory,
    outbox: createStalePurgesRepository(db),
    defer,
    repurgeDelayMs: config.cacheRepurgeDelayMs,
  });
  const tiers: CacheTiers = {
    memory,
    kv,
    purger,
    metrics,
    defer,
    kvTtlSeconds: KV_TTL_SECONDS,
    // Always well inside the second purge's delay: a racing fill lands before that purge.
    fillWindowMs: Math.min(1000, config.cacheRepurgeDelayMs / 2),
  };
  const cachedUsers = createCachedUsersRepository(users, tiers);
  return {
    db,
    users: cachedUsers,
    sessions: createCachedSessionsRepository(sessions, cachedUsers, tiers),
    purger,
  };
}

// A value made on its first use and kept.
function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => {
    made ??= { value: make() };
    return made.value;
  };
}
