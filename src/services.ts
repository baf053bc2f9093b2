import { createClient as createLibsqlClient, type Client as LibsqlClient } from "@libsql/client/web";
import { type AuthService, createAuthService } from "./auth/auth.service";
import { createSessionsRepository, type SessionsRepository } from "./auth/sessions.repository";
import { createCachedSessionsRepository } from "./cache/cached-sessions.repository";
import { type CacheTiers, createCachedUsersRepository } from "./cache/cached-users.repository";
import { createKvCache } from "./cache/kv-cache";
import { createMemoryCache, type MemoryCache } from "./cache/memory-cache";
import { createPurger, type Purger } from "./cache/purger";
import type { Db } from "./db/client";
import { createD1Database } from "./db/d1";
import { createLibsqlDatabase, instrumentLibsql } from "./db/libsql";
import { createStalePurgesRepository } from "./db/stale-purges";
import type { AppConfig, Bindings } from "./env";
import { createReadinessProbe, type ReadinessProbe } from "./health/health.service";
import { createIdempotencyRepository } from "./idempotency/idempotency.repository";
import { createIdempotencyService, type IdempotencyService } from "./idempotency/idempotency.service";
import { instrumentD1, instrumentKV } from "./lib/instrument";
import type { RequestMetrics } from "./lib/metrics";
import { createPasswordHasher, type PasswordHasher } from "./lib/password";
import { createRateLimiter, type RateLimiter } from "./limits/rate-limiter";
import type { User } from "./users/users.model";
import { createUsersRepository, type UsersRepository } from "./users/users.repository";
import { createUsersService, type UsersService } from "./users/users.service";

export type Services = {
  users: UsersService;
  auth: AuthService;
  readiness: ReadinessProbe;
  /** Null when the cache is off (CACHE_ENABLED=false). */
  purger: Purger | null;
  limiter: RateLimiter;
  idempotency: IdempotencyService;
};

// What lives as long as the isolate: the memory tier and the hasher (its imported pepper key).
type IsolateState = { memory: MemoryCache<User>; hasher: PasswordHasher; libsql: LibsqlClient | undefined };

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
      libsql: libsqlClient(env, config),
    };
    isolates.set(env, state);
  }
  return state;
}

// A host may hand in its own client (Node uses the file-capable one); Workers use the web client.
function libsqlClient(env: Bindings, config: AppConfig): LibsqlClient | undefined {
  if (env.LIBSQL_CLIENT) return env.LIBSQL_CLIENT;
  if (!config.libsqlUrl) return undefined;
  if (config.libsqlUrl.startsWith("file:")) {
    throw new Error("Invalid configuration: LIBSQL_URL file: needs a filesystem; use it with npm run start:node");
  }
  return createLibsqlClient({ url: config.libsqlUrl, authToken: config.libsqlAuthToken });
}

export type RequestScope = {
  env: Bindings;
  config: AppConfig;
  metrics: RequestMetrics;
  /** Work to finish after the response (ctx.waitUntil). */
  defer: (task: Promise<unknown>) => void;
};

/**
 * The composition root, per request: bindings wrapped to report to the request's metrics,
 * repositories over them, the cache decorating the repositories, services over those. Each piece
 * is built on first use, so a request pays only for what it touches: a profile served from the
 * memory tier builds no Drizzle instance and no auth service. Isolate-wide state is only what must
 * outlive a request.
 */
export function createServices({ env, config, metrics, defer }: RequestScope): Services {
  const { memory, hasher, libsql } = isolateState(env, config);
  const timeoutMs = config.dbTimeoutMs;
  // The backend is configuration: libSQL when a client or LIBSQL_URL is given, D1 otherwise.
  const db = deferred(() =>
    libsql
      ? createLibsqlDatabase(instrumentLibsql(libsql, metrics, { timeoutMs }))
      : createD1Database(instrumentD1(env.DB, metrics, { timeoutMs })),
  );
  const repositories = once(() => composeRepositories({ env, config, metrics, defer }, db, memory));
  const limiter = once(() => createRateLimiter(env));
  const users = once(() => createUsersService({ users: repositories().users, hasher, config }));
  const auth = once(() => {
    const { users, sessions } = repositories();
    return createAuthService({ users, sessions, hasher, config, limiter: limiter() });
  });
  const idempotency = once(() => createIdempotencyService(createIdempotencyRepository(db)));
  const readiness = once(() =>
    createReadinessProbe({
      pingDatabase: () => (libsql ? libsql.execute("select 1") : env.DB.prepare("select 1").first()),
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

// The repositories, decorated by the cache tiers when the cache is on.
function composeRepositories(
  { env, config, metrics, defer }: RequestScope,
  db: Db,
  memory: MemoryCache<User>,
): { users: UsersRepository; sessions: SessionsRepository; purger: Purger | null } {
  const recordStale = config.cacheEnabled;
  let users: UsersRepository = createUsersRepository(db, { recordStale });
  let sessions: SessionsRepository = createSessionsRepository(db, { recordStale });
  let purger: Purger | null = null;

  if (config.cacheEnabled) {
    const kv = createKvCache(instrumentKV(env.CACHE, metrics), { readTimeoutMs: KV_READ_TIMEOUT_MS });
    purger = createPurger({
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
    users = createCachedUsersRepository(users, tiers);
    sessions = createCachedSessionsRepository(sessions, users, tiers);
  }
  return { users, sessions, purger };
}

// A value made on its first use and kept.
function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => {
    made ??= { value: make() };
    return made.value;
  };
}

// An object that stands in for the one `make` returns, made on the first property read. For the
// database handle, which repositories hold from construction but a cache hit never queries.
function deferred<T extends object>(make: () => T): T {
  const target = once(make);
  return new Proxy({} as T, {
    get(_stub, key) {
      const real = target();
      const value = Reflect.get(real, key, real);
      // Methods are bound so `this` is the real object; the constructor is not, so its statics
      // (Drizzle's entity kind) stay readable.
      return typeof value === "function" && key !== "constructor" ? value.bind(real) : value;
    },
    set: (_stub, key, value) => Reflect.set(target(), key, value),
    has: (_stub, key) => Reflect.has(target(), key),
    getPrototypeOf: () => Reflect.getPrototypeOf(target()),
  });
}
