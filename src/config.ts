import { z } from "zod";

// Configuration is the ground floor of the app: read once per isolate, it imports nothing of ours.

/** Bindings from wrangler.toml (typed by `wrangler types`) plus secrets set with `wrangler secret put`. */
export type Bindings = Env & {
  /** The root secret keys are derived from (`wrangler secret put APP_SECRET`; npm start makes a local one). */
  APP_SECRET?: string;
  /** The secret APP_SECRET replaced, while a rotation is under way: what it sealed still opens. */
  APP_SECRET_PREVIOUS?: string;
  PASSWORD_PEPPER?: string;
  /** `standard` (the default) or `low`: cheap scrypt parameters, for test suites on this machine only. */
  PASSWORD_HASH_COST?: string;
  /** libSQL (Turso) instead of D1: the database URL (a var) and its token (a secret). */
  LIBSQL_URL?: string;
  LIBSQL_AUTH_TOKEN?: string;
  /** The Resend API key (a secret), for MAIL_TRANSPORT=resend. */
  RESEND_API_KEY?: string;
  /** Pwned Passwords' origin, when not https://api.pwnedpasswords.com (the tests' stand-in). */
  PASSWORD_BREACH_API_URL?: string;
  /** A ready libSQL client, handed in by hosts other than Workers (src/node.ts). */
  LIBSQL_CLIENT?: import("@libsql/client/web").Client;
};

export type AppConfig = {
  signupOpen: boolean;
  sessionTtlSeconds: number;
  publicCacheTtlSeconds: number;
  /** The root of derived keys (request fingerprints); at least 32 characters. */
  appSecret: string;
  /** APP_SECRET_PREVIOUS: set while APP_SECRET is rotated, so what it sealed still opens (src/lib/sealing.ts). */
  appSecretPrevious: string | undefined;
  passwordPepper: string | undefined;
  /** The scrypt parameters new hashes get: `low` only with a loopback APP_URL (test suites). */
  passwordHashCost: "standard" | "low";
  cacheEnabled: boolean;
  memoryCacheTtlSeconds: number;
  cacheRepurgeDelayMs: number;
  dbTimeoutMs: number;
  /** `npm start -- --no-rate-limits`: limits are off for requests to localhost (only). */
  rateLimitsOff: boolean;
  /** Set: the database is libSQL at this URL; unset: D1 through the DB binding. */
  libsqlUrl: string | undefined;
  libsqlAuthToken: string | undefined;
  corsAllowedOrigins: string[];
  /** A correct sign-in of an unverified address is refused (403) while this is on. */
  requireEmailVerification: boolean;
  /** Where the links in mails point: `{appUrl}/verify-email?token=…`, `{appUrl}/reset-password?token=…`. */
  appUrl: string;
  mail: {
    transport: "log" | "cloudflare" | "resend";
    from: string;
    resendApiKey: string | undefined;
    /** A failed delivery is retried after this, doubling with each attempt. */
    retryBaseDelaySeconds: number;
  };
  emailVerificationTtlSeconds: number;
  passwordResetTtlSeconds: number;
  /** Access tokens (signed JWTs): lifetime, `iss` and `aud`. */
  accessTokenTtlSeconds: number;
  tokenIssuer: string;
  tokenAudience: string;
  /** A new signing key is scheduled this long after the current one began signing. */
  signingKeyRotationDays: number;
  /** Security events older than this are pruned by the cron. */
  auditRetentionDays: number;
  logLevel: "debug" | "info" | "warn" | "error";
  logFormat: "json" | "pretty";
  /** New passwords are looked up in Have I Been Pwned's Pwned Passwords (src/passwords/breach.ts). */
  passwordBreach: {
    /** `refuse`: a password found there is a 422; `off`: no lookup (npm start, the tests). */
    check: "off" | "refuse";
    /** The range API's origin; the tests point it at a stand-in. */
    apiUrl: string;
  };
  webhooks: {
    /** `WEBHOOKS_ALLOW_LOOPBACK=true` (local development only): http://localhost:PORT and 127.0.0.1 receivers. */
    allowLoopback: boolean;
    /** The retry schedule's delays times this: 1 in production (npm run deploy refuses another); tests use 0. */
    retryDelayScale: number;
  };
};

const flag = z.union([z.boolean(), z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1")]);

// "Name <address>" or a bare address, as mail providers take a sender.
const SENDER = /^(?:[^<>\r\n]+<[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+)$/;

const ConfigSchema = z
  .object({
    SIGNUP_OPEN: flag.default(true),
    SESSION_TTL_SECONDS: z.coerce.number().int().min(300).max(31_536_000).default(604_800),
    PUBLIC_CACHE_TTL_SECONDS: z.coerce.number().int().min(0).max(3600).default(30),
    APP_SECRET: z
      .string({
        message: "APP_SECRET is required: a random secret of at least 32 characters (wrangler secret put APP_SECRET)",
      })
      .min(32, "APP_SECRET must be at least 32 characters (a random secret, e.g. openssl rand -base64 32)"),
    APP_SECRET_PREVIOUS: z
      .string()
      .min(32, "APP_SECRET_PREVIOUS must be the previous APP_SECRET (at least 32 characters)")
      .optional()
      .or(z.literal("").transform(() => undefined)),
    PASSWORD_PEPPER: z.string().min(16, "PASSWORD_PEPPER must be at least 16 characters").optional(),
    PASSWORD_HASH_COST: z.enum(["standard", "low"]).default("standard"),
    CACHE_ENABLED: flag.default(true),
    MEMORY_CACHE_TTL_SECONDS: z.coerce.number().int().min(0).max(60).default(5),
    // Above 100 ms so reads have a fill window (half the delay, at most a second) to fill in.
    CACHE_REPURGE_DELAY_MS: z.coerce.number().int().min(100).max(20_000).default(2000),
    CORS_ALLOWED_ORIGINS: z
      .string()
      .default("")
      .transform((list) =>
        list
          .split(",")
          .map((origin) => origin.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.url({ message: "CORS_ALLOWED_ORIGINS lists origins such as https://app.example.com, never *" }))),
    LIBSQL_URL: z
      .string()
      // Not ws(s): a WebSocket client would be shared across requests, which Workers forbid.
      .regex(/^(libsql|https?|file):/, "LIBSQL_URL must be a libsql://, https:// or (on Node) file: URL")
      .optional()
      .or(z.literal("").transform(() => undefined)),
    LIBSQL_AUTH_TOKEN: z.string().optional(),
    DB_TIMEOUT_MS: z.coerce.number().int().min(50).max(30_000).default(5000),
    REQUIRE_EMAIL_VERIFICATION: flag.default(false),
    APP_URL: z
      .url({ message: "APP_URL must be an absolute URL such as https://app.example.com" })
      .default("http://localhost:8787"),
    MAIL_TRANSPORT: z.enum(["log", "cloudflare", "resend"]).default("log"),
    MAIL_FROM: z
      .string()
      .regex(SENDER, 'MAIL_FROM must be an address or "Name <address>"')
      .default("edge-users <no-reply@edge-users.example>"),
    RESEND_API_KEY: z.string().optional(),
    MAIL_RETRY_BASE_DELAY_SECONDS: z.coerce.number().int().min(0).max(3600).default(30),
    EMAIL_VERIFICATION_TTL_SECONDS: z.coerce.number().int().min(300).max(604_800).default(86_400),
    PASSWORD_RESET_TTL_SECONDS: z.coerce.number().int().min(300).max(86_400).default(1800),
    ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(3600).default(300),
    TOKEN_ISSUER: z
      .url({
        message: "TOKEN_ISSUER must be an absolute URL: this API's public origin, e.g. https://users.example.com",
      })
      .default("http://localhost:8787"),
    TOKEN_AUDIENCE: z.string().min(1).max(200).default("edge-users"),
    SIGNING_KEY_ROTATION_DAYS: z.coerce.number().int().min(1).max(365).default(30),
    AUDIT_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
    LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
    LOG_FORMAT: z.enum(["json", "pretty"]).default("json"),
    PASSWORD_BREACH_CHECK: z.enum(["off", "refuse"]).default("off"),
    PASSWORD_BREACH_API_URL: z
      .url({
        protocol: /^https?$/,
        message: "PASSWORD_BREACH_API_URL must be an http(s) URL such as https://api.pwnedpasswords.com",
      })
      .default("https://api.pwnedpasswords.com"),
    // `npm start -- --no-rate-limits` only: honoured for requests to this machine (localhost).
    RATE_LIMITS: z.enum(["on", "off"]).default("on"),
    WEBHOOKS_ALLOW_LOOPBACK: flag.default(false),
    WEBHOOK_RETRY_DELAY_SCALE: z.coerce.number().min(0).max(1).default(1),
  })
  .refine((config) => config.MAIL_TRANSPORT !== "resend" || Boolean(config.RESEND_API_KEY), {
    message: "MAIL_TRANSPORT=resend needs RESEND_API_KEY (wrangler secret put RESEND_API_KEY)",
    path: ["RESEND_API_KEY"],
  })
  // The log transport writes every link, a working credential, into the log: on this machine only.
  // Limits off is for a test suite against `npm start`: never with a public APP_URL.
  .refine((config) => config.RATE_LIMITS !== "off" || isLoopback(config.APP_URL), {
    message:
      "RATE_LIMITS=off is for local development only (npm start -- --no-rate-limits), never with a public APP_URL",
    path: ["RATE_LIMITS"],
  })
  // Receivers on this machine are for tests and local development.
  .refine((config) => !config.WEBHOOKS_ALLOW_LOOPBACK || isLoopback(config.APP_URL), {
    message: "WEBHOOKS_ALLOW_LOOPBACK=true is for local development only, never with a public APP_URL",
    path: ["WEBHOOKS_ALLOW_LOOPBACK"],
  })
  // Low-cost hashes fall to a guess in a fraction of the time: for a test suite's own accounts only.
  .refine((config) => config.PASSWORD_HASH_COST !== "low" || isLoopback(config.APP_URL), {
    message:
      "PASSWORD_HASH_COST=low makes password hashes cheap to guess: it is for test suites with an APP_URL on this machine only",
    path: ["PASSWORD_HASH_COST"],
  })
  .refine((config) => config.MAIL_TRANSPORT !== "log" || isLoopback(config.APP_URL), {
    message:
      "MAIL_TRANSPORT=log prints every link (a working token) to the log: it is for an APP_URL on this machine only; set MAIL_TRANSPORT to cloudflare or resend",
    path: ["MAIL_TRANSPORT"],
  });

function isLoopback(url: string): boolean {
  return isLoopbackHost(new URL(url).hostname);
}

/** localhost, 127.x.x.x or [::1]: this machine. */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** The variables configuration is read from (wrangler.toml vars and secrets; the environment on Node). */
export const CONFIG_VARIABLES = Object.keys(ConfigSchema.shape) as (keyof typeof ConfigSchema.shape)[];

const parsed = new WeakMap<object, AppConfig>();

/** Reads and checks configuration once per isolate and bindings object; a bad value fails loudly. */
export function readConfig(env: Bindings): AppConfig {
  const cached = parsed.get(env);
  if (cached) return cached;
  const result = ConfigSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new Error(`Invalid configuration: ${problems.join("; ")}`);
  }
  const config: AppConfig = {
    signupOpen: result.data.SIGNUP_OPEN,
    sessionTtlSeconds: result.data.SESSION_TTL_SECONDS,
    publicCacheTtlSeconds: result.data.PUBLIC_CACHE_TTL_SECONDS,
    appSecret: result.data.APP_SECRET,
    appSecretPrevious: result.data.APP_SECRET_PREVIOUS,
    passwordPepper: result.data.PASSWORD_PEPPER,
    passwordHashCost: result.data.PASSWORD_HASH_COST,
    cacheEnabled: result.data.CACHE_ENABLED,
    memoryCacheTtlSeconds: result.data.MEMORY_CACHE_TTL_SECONDS,
    cacheRepurgeDelayMs: result.data.CACHE_REPURGE_DELAY_MS,
    dbTimeoutMs: result.data.DB_TIMEOUT_MS,
    libsqlUrl: result.data.LIBSQL_URL,
    libsqlAuthToken: result.data.LIBSQL_AUTH_TOKEN || undefined,
    corsAllowedOrigins: result.data.CORS_ALLOWED_ORIGINS.map((origin) => new URL(origin).origin),
    requireEmailVerification: result.data.REQUIRE_EMAIL_VERIFICATION,
    appUrl: result.data.APP_URL.replace(/\/+$/, ""),
    mail: {
      transport: result.data.MAIL_TRANSPORT,
      from: result.data.MAIL_FROM,
      resendApiKey: result.data.RESEND_API_KEY || undefined,
      retryBaseDelaySeconds: result.data.MAIL_RETRY_BASE_DELAY_SECONDS,
    },
    emailVerificationTtlSeconds: result.data.EMAIL_VERIFICATION_TTL_SECONDS,
    passwordResetTtlSeconds: result.data.PASSWORD_RESET_TTL_SECONDS,
    accessTokenTtlSeconds: result.data.ACCESS_TOKEN_TTL_SECONDS,
    tokenIssuer: result.data.TOKEN_ISSUER.replace(/\/+$/, ""),
    tokenAudience: result.data.TOKEN_AUDIENCE,
    signingKeyRotationDays: result.data.SIGNING_KEY_ROTATION_DAYS,
    auditRetentionDays: result.data.AUDIT_RETENTION_DAYS,
    logLevel: result.data.LOG_LEVEL,
    logFormat: result.data.LOG_FORMAT,
    rateLimitsOff: result.data.RATE_LIMITS === "off",
    passwordBreach: {
      check: result.data.PASSWORD_BREACH_CHECK,
      apiUrl: result.data.PASSWORD_BREACH_API_URL.replace(/\/+$/, ""),
    },
    webhooks: {
      allowLoopback: result.data.WEBHOOKS_ALLOW_LOOPBACK,
      retryDelayScale: result.data.WEBHOOK_RETRY_DELAY_SCALE,
    },
  };
  parsed.set(env, config);
  return config;
}
