import { type AccountsService, createAccountsService } from "./accounts/accounts.service";
import { createEmailTokensRepository } from "./accounts/email-tokens.repository";
import { type AuditEvents, createAuditEvents, type EventContext, NO_REQUEST } from "./audit/audit.events";
import { createAuditEventsRepository } from "./audit/audit.repository";
import { type AuditLogService, createAuditLogService } from "./audit/audit.service";
import { type AuthService, createAuthService, type VerificationMail } from "./auth/auth.service";
import { createCachedSessionsRepository } from "./auth/sessions.cache";
import { createSessionsRepository, type SessionsRepository } from "./auth/sessions.repository";
import { createKvCache, instrumentKV } from "./cache/kv-cache";
import { createStalePurgesRepository } from "./cache/outbox";
import { createPurger, type Purger } from "./cache/purger";
import type { CacheTiers } from "./cache/tiers";
import { type IsolateState, isolateState } from "./composition/isolate";
import type { AppConfig, Bindings } from "./config";
import type { DatabaseBackend } from "./db/backend";
import type { Db } from "./db/client";
import { createReadinessProbe, type ReadinessProbe } from "./health/health.service";
import { createIdempotencyRepository } from "./idempotency/idempotency.repository";
import { createIdempotencyService, type IdempotencyService } from "./idempotency/idempotency.service";
import type { RequestMetrics } from "./lib/metrics";
import { createRateLimiter, noRateLimits, type RateLimiter } from "./limits/rate-limiter";
import { createMailer } from "./mail/mailer";
import { type BreachCheck, breachCheckOff, createBreachCheck } from "./passwords/breach";
import { type AccessTokens, createAccessTokens } from "./tokens/access-tokens";
import { createSigningKeysRepository } from "./tokens/signing-keys.repository";
import { createSigningKeysService, type SigningKeysService } from "./tokens/signing-keys.service";
import { createCachedUsersRepository } from "./users/users.cache";
import { createUsersRepository, type UsersRepository } from "./users/users.repository";
import { type AccountMail, createUsersService, type UsersService } from "./users/users.service";
import { webhookPayload } from "./webhooks/payload";
import { createWebhooksRepository, type WebhooksRepository } from "./webhooks/webhooks.repository";
import { createWebhooksService, type WebhooksService } from "./webhooks/webhooks.service";

/** Every service of a request; each router's env names the ones its handlers use. */
export type Services = {
  users: UsersService;
  auth: AuthService;
  accounts: AccountsService;
  signingKeys: SigningKeysService;
  readiness: ReadinessProbe;
  /** Null when the cache is off (CACHE_ENABLED=false). */
  purger: Purger | null;
  limiter: RateLimiter;
  idempotency: IdempotencyService;
  webhooks: WebhooksService;
  audit: AuditLogService;
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
  /** The request was made to this machine (localhost): where `--no-rate-limits` may apply. */
  loopbackRequest?: boolean;
  /** Where the request came from, for the security events its writes record; none for the cron. */
  request?: EventContext;
};

const KV_TTL_SECONDS = 3600;
const KV_READ_TIMEOUT_MS = 300;

/**
 * The composition root: the one place a request's object graph is built. Bindings are wrapped to
 * report to the request's metrics, repositories sit over them, the cache decorates the
 * repositories, services sit over those. Every piece is made on its first use, so a request pays
 * only for what it touches: a public profile from the memory tier builds the users service and
 * its repository, never the sessions, the auth service or the purger.
 */
export function createServices(scope: RequestScope): Services {
  return new RequestServices(scope, isolateState(scope.env, scope.config));
}

// Lazy getters on a class rather than closures in an object: one allocation per request, on every
// request's path (bench:profile).
class RequestServices implements Services {
  #db: Db | undefined;
  #tiers: CacheTiers | null | undefined;
  #usersRepository: UsersRepository | undefined;
  #sessionsRepository: SessionsRepository | undefined;
  #users: UsersService | undefined;
  #auth: AuthService | undefined;
  #accounts: AccountsService | undefined;
  #signingKeys: SigningKeysService | undefined;
  #accessTokens: AccessTokens | undefined;
  #limiter: RateLimiter | undefined;
  #idempotency: IdempotencyService | undefined;
  #readiness: ReadinessProbe | undefined;
  #breachCheck: BreachCheck | undefined;
  #webhooks: WebhooksService | undefined;
  #webhooksRepository: WebhooksRepository | undefined;
  #events: AuditEvents | undefined;
  #audit: AuditLogService | undefined;

  constructor(
    private readonly scope: RequestScope,
    private readonly isolate: IsolateState,
  ) {}

  get users(): UsersService {
    const { config } = this.scope;
    this.#users ??= createUsersService({
      users: this.usersRepository,
      standing: this.sessionsRepository,
      accountMail: this.accountMail,
      events: this.events,
      hasher: this.isolate.hasher,
      breachCheck: this.breachCheck,
      config,
      limiter: this.limiter,
    });
    return this.#users;
  }

  get auth(): AuthService {
    this.#auth ??= createAuthService({
      users: this.usersRepository,
      sessions: this.sessionsRepository,
      hasher: this.isolate.hasher,
      accessTokens: this.accessTokens,
      verificationMail: this.accountMail,
      events: this.events,
      config: this.scope.config,
      limiter: this.limiter,
    });
    return this.#auth;
  }

  get accounts(): AccountsService {
    const { env, config, defer } = this.scope;
    this.#accounts ??= createAccountsService({
      users: this.usersRepository,
      tokens: createEmailTokensRepository(this.db),
      standing: this.sessionsRepository,
      mailer: createMailer(env.MAIL_QUEUE, this.isolate.sealer("mail-queue")),
      hasher: this.isolate.hasher,
      breachCheck: this.breachCheck,
      events: this.events,
      limiter: this.limiter,
      config,
      defer,
    });
    return this.#accounts;
  }

  get signingKeys(): SigningKeysService {
    if (!this.#signingKeys) {
      const { backend, env, config, metrics, defer } = this.scope;
      // On a handle of its own: a key refresh or rotation, which may run alongside the request's
      // work (after a token check), never takes an event joined to the request's write, nor the
      // other way round.
      const db = backend.open(env, config, metrics);
      this.#signingKeys = createSigningKeysService({
        repository: createSigningKeysRepository(db),
        events: createAuditEvents(db, NO_REQUEST, { defer }),
        cache: this.isolate.keys,
        sealer: this.isolate.sealer("signing-keys"),
        keyIds: this.isolate.keyIds,
        rotationIntervalMs: config.signingKeyRotationDays * 86_400_000,
        defer,
      });
    }
    return this.#signingKeys;
  }

  // Signs and verifies access tokens with the signing keys.
  private get accessTokens(): AccessTokens {
    this.#accessTokens ??= createAccessTokens({
      keys: this.signingKeys,
      verified: this.isolate.verifiedTokens,
      config: this.scope.config,
    });
    return this.#accessTokens;
  }

  get webhooks(): WebhooksService {
    const { env, config, defer } = this.scope;
    this.#webhooks ??= createWebhooksService({
      repository: this.webhooksRepository,
      events: this.events,
      sealer: this.isolate.sealer("webhook-secrets"),
      policy: { allowLoopback: config.webhooks.allowLoopback },
      queue: env.WEBHOOK_QUEUE,
      defer,
    });
    return this.#webhooks;
  }

  get limiter(): RateLimiter {
    const { config, env, loopbackRequest } = this.scope;
    this.#limiter ??= config.rateLimitsOff && loopbackRequest ? noRateLimits : createRateLimiter(env);
    return this.#limiter;
  }

  get idempotency(): IdempotencyService {
    // Over the same handle as the users repository: its completion joins the write's batch.
    this.#idempotency ??= createIdempotencyService(createIdempotencyRepository(this.db), {
      fingerprintKey: this.isolate.fingerprintKey,
    });
    return this.#idempotency;
  }

  get audit(): AuditLogService {
    this.#audit ??= createAuditLogService({
      repository: createAuditEventsRepository(this.db),
      retentionDays: this.scope.config.auditRetentionDays,
    });
    return this.#audit;
  }

  get readiness(): ReadinessProbe {
    const { backend, env, config } = this.scope;
    this.#readiness ??= createReadinessProbe({
      pingDatabase: () => backend.ping(env, config),
      pingCache: () => env.CACHE.get("readiness-probe"),
    });
    return this.#readiness;
  }

  // New passwords (sign-up, change, reset) against Pwned Passwords, when PASSWORD_BREACH_CHECK=refuse.
  // An unanswered lookup lets the password through and is counted in this request's data points.
  private get breachCheck(): BreachCheck {
    const { config, metrics } = this.scope;
    this.#breachCheck ??=
      config.passwordBreach.check === "refuse"
        ? createBreachCheck({
            apiUrl: config.passwordBreach.apiUrl,
            onFailOpen: (event) => metrics.recordFailOpen(event),
          })
        : breachCheckOff;
    return this.#breachCheck;
  }

  get purger(): Purger | null {
    return this.tiers?.purger ?? null;
  }

  // The mails a users or auth write sends, as those services see them: the accounts service (its
  // queue, its tokens repository) is built only when a write does send one.
  private get accountMail(): AccountMail & VerificationMail {
    return {
      afterSignUp: (user) => this.accounts.afterSignUp(user),
      afterEmailChange: (user, previousEmail, by) => this.accounts.afterEmailChange(user, previousEmail, by),
      afterUnverifiedSignIn: (user) => this.accounts.afterUnverifiedSignIn(user),
    };
  }

  // The endpoints and the outbox: the webhooks service's, and where every event's deliveries go.
  private get webhooksRepository(): WebhooksRepository {
    this.#webhooksRepository ??= createWebhooksRepository(this.db);
    return this.#webhooksRepository;
  }

  // The security events this request's writes record, in their own batches, with where it came from.
  private get events(): AuditEvents {
    if (!this.#events) {
      const outbox = this.webhooksRepository;
      this.#events = createAuditEvents(this.db, this.scope.request ?? NO_REQUEST, {
        defer: this.scope.defer,
        // Every event fills the webhooks outbox in its write's batch (src/webhooks/).
        outbox: {
          statement: (row) => {
            const { payload, withUserOf } = webhookPayload(row);
            return outbox.outboxStatement(
              { id: row.id, type: row.type, occurredAt: row.occurredAt, payload },
              row.occurredAt,
              { afterAuditEvent: true, withUserOf },
            );
          },
          dispatch: (eventIds) => this.webhooks.dispatchAfterWrite(eventIds),
        },
      });
    }
    return this.#events;
  }

  private get db(): Db {
    const { backend, env, config, metrics } = this.scope;
    this.#db ??= backend.open(env, config, metrics);
    return this.#db;
  }

  // The cache tiers of this request, or null when the cache is off (CACHE_ENABLED=false).
  private get tiers(): CacheTiers | null {
    if (this.#tiers !== undefined) return this.#tiers;
    const { env, config, metrics, defer } = this.scope;
    if (!config.cacheEnabled) {
      this.#tiers = null;
      return null;
    }
    const { memory } = this.isolate;
    const kv = createKvCache(instrumentKV(env.CACHE, metrics), { readTimeoutMs: KV_READ_TIMEOUT_MS });
    const purger = createPurger({
      kv,
      memory,
      outbox: createStalePurgesRepository(this.db),
      defer,
      repurgeDelayMs: config.cacheRepurgeDelayMs,
    });
    this.#tiers = {
      memory,
      kv,
      purger,
      metrics,
      defer,
      kvTtlSeconds: KV_TTL_SECONDS,
      // Always well inside the second purge's delay: a racing fill lands before that purge.
      fillWindowMs: Math.min(1000, config.cacheRepurgeDelayMs / 2),
    };
    return this.#tiers;
  }

  // The repositories, decorated by the cache tiers when the cache is on.
  private get usersRepository(): UsersRepository {
    if (!this.#usersRepository) {
      const repository = createUsersRepository(this.db, { recordStale: this.scope.config.cacheEnabled });
      const tiers = this.tiers;
      this.#usersRepository = tiers ? createCachedUsersRepository(repository, tiers) : repository;
    }
    return this.#usersRepository;
  }

  private get sessionsRepository(): SessionsRepository {
    if (!this.#sessionsRepository) {
      const repository = createSessionsRepository(this.db, { recordStale: this.scope.config.cacheEnabled });
      const tiers = this.tiers;
      this.#sessionsRepository = tiers
        ? createCachedSessionsRepository(repository, this.usersRepository, tiers)
        : repository;
    }
    return this.#sessionsRepository;
  }
}
