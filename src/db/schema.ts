import { sql } from "drizzle-orm";
import { check, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** The values of `users.role` and `users.status`, enforced by the table's check constraints too. */
export const roles = ["admin", "member"] as const;
export const statuses = ["active", "disabled"] as const;

export const users = sqliteTable(
  "users",
  {
    // UUIDv7: opaque, URL-safe and sorted by creation time.
    id: text("id").primaryKey(),
    email: text("email").notNull(),
    username: text("username").notNull(),
    name: text("name").notNull(),
    role: text("role", { enum: roles }).notNull().default("member"),
    status: text("status", { enum: statuses }).notNull().default("active"),
    // Self-describing PHC-style string: algorithm, parameters, salt and hash.
    passwordHash: text("password_hash").notNull(),
    // The owner followed a link sent to this email; any change of email clears it.
    emailVerified: integer("email_verified", { mode: "boolean" }).notNull().default(false),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
    // Bumped by every change to the user; the source of ETags and of cache entry versions.
    version: integer("version").notNull().default(1),
  },
  (table) => [
    uniqueIndex("users_email_unique").on(table.email),
    uniqueIndex("users_username_unique").on(table.username),
    // Serves the newest-first keyset pagination (scanned backwards).
    index("users_created_at_id_idx").on(table.createdAt, table.id),
    // Serves the role/status filters and the "last active admin" count.
    index("users_role_status_created_at_idx").on(table.role, table.status, table.createdAt),
    check("users_role_check", sql`${table.role} in ('admin', 'member')`),
    check("users_status_check", sql`${table.status} in ('active', 'disabled')`),
  ],
);

export const sessions = sqliteTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    // SHA-256 of the bearer token; the token itself is never stored.
    tokenHash: text("token_hash").notNull(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    expiresAt: integer("expires_at", { mode: "timestamp_ms" }).notNull(),
    // The User-Agent of the sign-in, cleaned and cut to 256 characters, for the session list.
    userAgent: text("user_agent"),
  },
  (table) => [
    uniqueIndex("sessions_token_hash_unique").on(table.tokenHash),
    index("sessions_user_id_idx").on(table.userId),
    index("sessions_expires_at_idx").on(table.expiresAt),
  ],
);

/** What a mailed link is for. */
export const emailTokenPurposes = ["verify_email", "reset_password", "undo_email_change"] as const;

/**
 * Single-use links sent by mail: email verification, password reset, and undoing an email change
 * (sent to the address the change replaced). Only the token's SHA-256 is stored; a link is good
 * until it expires, is used, or a newer link of the same purpose replaces it; verification and
 * reset links only while the account still has the address they were sent to, and reset links
 * only until the password, the status or the email is written (src/users/users.repository.ts).
 * Expired ones are deleted by the housekeeping cron.
 */
export const emailTokens = sqliteTable(
  "email_tokens",
  {
    tokenHash: text("token_hash").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    purpose: text("purpose", { enum: emailTokenPurposes }).notNull(),
    /**
     * The address the link was sent to: a verification or reset link only works while that is
     * still the user's email; an undo link restores it.
     */
    email: text("email").notNull(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    expiresAt: integer("expires_at", { mode: "timestamp_ms" }).notNull(),
  },
  (table) => [
    index("email_tokens_user_id_purpose_idx").on(table.userId, table.purpose),
    index("email_tokens_expires_at_idx").on(table.expiresAt),
    check(
      "email_tokens_purpose_check",
      sql`${table.purpose} in ('verify_email', 'reset_password', 'undo_email_change')`,
    ),
  ],
);

/**
 * Cached entries made stale by a write, recorded in the same D1 batch as the write itself, so
 * the purge is never lost: the Worker purges them right after the write and again a moment later,
 * and a cron purges whatever is left (KV down, Worker evicted). A transactional outbox.
 */
export const stalePurges = sqliteTable(
  "stale_purges",
  {
    // A cache key (cache/keys.ts), e.g. `user:1:<id>` or `session:1:<token hash>`.
    key: text("key").primaryKey(),
    recordedAt: integer("recorded_at", { mode: "timestamp_ms" }).notNull(),
  },
  (table) => [index("stale_purges_recorded_at_idx").on(table.recordedAt)],
);

/**
 * Idempotency-Key records for POST /api/users: reserved before the work, completed with the
 * response in the same D1 batch as the write, replayed for a retry, forgotten after 24 hours.
 */
export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    /** Whose key it is: `user:<id>` for an authenticated caller, `ip:<address>` otherwise. */
    scope: text("scope").notNull(),
    key: text("key").notNull(),
    /** HMAC of the request (method, path, whole validated body) under a key from APP_SECRET, to refuse the key on another request. */
    fingerprint: text("fingerprint").notNull(),
    state: text("state", { enum: ["in_flight", "completed"] }).notNull(),
    responseStatus: integer("response_status"),
    responseHeaders: text("response_headers", { mode: "json" }).$type<Record<string, string>>(),
    responseBody: text("response_body"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    expiresAt: integer("expires_at", { mode: "timestamp_ms" }).notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.scope, table.key] }),
    index("idempotency_keys_expires_at_idx").on(table.expiresAt),
  ],
);

/**
 * The keys that sign access tokens (ES256). The public half is published in the JWK Set from the
 * moment the row exists; a key signs from `signsFrom` until the next key's `signsFrom`; its private
 * half, encrypted under a key derived from APP_SECRET, is dropped once it no longer signs, and the
 * row once no token it signed can still be valid (src/tokens/signing-keys.service.ts).
 */
export const signingKeys = sqliteTable(
  "signing_keys",
  {
    kid: text("kid").primaryKey(),
    publicJwk: text("public_jwk").notNull(),
    /** AES-GCM (IV || ciphertext, base64url) of the private JWK; null once the key no longer signs. */
    encryptedPrivateJwk: text("encrypted_private_jwk"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    signsFrom: integer("signs_from", { mode: "timestamp_ms" }).notNull(),
  },
  (table) => [index("signing_keys_signs_from_idx").on(table.signsFrom)],
);

/**
 * A key rotation asked for on demand (`npm run keys:rotate`): the Worker, which alone holds the
 * secret that encrypts private keys, makes the new key at its next key refresh or cron run.
 */
export const keyRotationRequests = sqliteTable("key_rotation_requests", {
  id: text("id").primaryKey(),
  requestedAt: integer("requested_at", { mode: "timestamp_ms" }).notNull(),
});

/**
 * Always empty. A write made on behalf of a session carries an insert into this table that selects
 * a row only when the session is no longer live (or its user no longer has the role the write
 * relied on); the check constraint then fails the statement and with it the write's whole batch.
 * So a revoked session cannot write, in any location, at once, at no extra round trip
 * (src/db/guards.ts).
 */
export const writeGuards = sqliteTable(
  "write_guards",
  {
    reason: text("reason").notNull(),
  },
  (table) => [
    check("session_live", sql`${table.reason} <> 'session'`),
    check("role_current", sql`${table.reason} <> 'role'`),
  ],
);

/** The values of `webhook_deliveries.status`. */
export const deliveryStatuses = ["pending", "succeeded", "failed"] as const;

/**
 * A receiver of webhooks, managed by admins (src/webhooks/). Its signing secret is sealed under
 * APP_SECRET (purpose `webhook-secrets`, the endpoint id bound) and shown only when it is made.
 */
export const webhookEndpoints = sqliteTable(
  "webhook_endpoints",
  {
    id: text("id").primaryKey(),
    url: text("url").notNull(),
    description: text("description").notNull().default(""),
    /** JSON array of event types, or `["*"]`. */
    events: text("events", { mode: "json" }).$type<string[]>().notNull(),
    sealedSecret: text("sealed_secret").notNull(),
    enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
    /** Why it was disabled by the service (a 410, a day of failures); null when an admin did it, or enabled. */
    disabledReason: text("disabled_reason"),
    /** When its current run of failed deliveries began; null after a success. */
    failingSince: integer("failing_since", { mode: "timestamp_ms" }),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
  },
  (table) => [index("webhook_endpoints_created_at_id_idx").on(table.createdAt, table.id)],
);

/**
 * One event to one endpoint: the transactional outbox (a row is inserted in the batch of the write
 * whose event it carries) and the delivery log. `payload` is the message body's `data`, made when
 * the event was, so every attempt sends the same bytes under the same `webhook-id` (`event_id`).
 */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    id: text("id").primaryKey(),
    endpointId: text("endpoint_id")
      .notNull()
      .references(() => webhookEndpoints.id, { onDelete: "cascade" }),
    eventId: text("event_id").notNull(),
    eventType: text("event_type").notNull(),
    payload: text("payload").notNull(),
    occurredAt: integer("occurred_at", { mode: "timestamp_ms" }).notNull(),
    status: text("status", { enum: deliveryStatuses }).notNull().default("pending"),
    attempt: integer("attempt").notNull().default(0),
    responseStatus: integer("response_status"),
    durationMs: integer("duration_ms"),
    error: text("error"),
    /** When it was last handed to the queue; the cron re-enqueues pending rows never handed over. */
    enqueuedAt: integer("enqueued_at", { mode: "timestamp_ms" }),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
  },
  (table) => [
    uniqueIndex("webhook_deliveries_event_endpoint_unique").on(table.eventId, table.endpointId),
    // The delivery log of one endpoint, newest first.
    index("webhook_deliveries_endpoint_created_idx").on(table.endpointId, table.createdAt, table.id),
    // The outbox sweep: pending rows never handed to the queue; pruning by age.
    index("webhook_deliveries_status_enqueued_idx").on(table.status, table.enqueuedAt, table.createdAt),
    check("webhook_deliveries_status_check", sql`${table.status} in ('pending', 'succeeded', 'failed')`),
  ],
);

export type Role = (typeof roles)[number];
export type UserStatus = (typeof statuses)[number];

export type UserRow = typeof users.$inferSelect;
export type NewUserRow = typeof users.$inferInsert;
export type SessionRow = typeof sessions.$inferSelect;
export type NewSessionRow = typeof sessions.$inferInsert;
export type EmailTokenRow = typeof emailTokens.$inferSelect;
export type EmailTokenPurpose = EmailTokenRow["purpose"];
export type SigningKeyRow = typeof signingKeys.$inferSelect;
export type WebhookEndpointRow = typeof webhookEndpoints.$inferSelect;
export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;
export type DeliveryStatus = (typeof deliveryStatuses)[number];

/**
 * The user as the application knows it: its row without the password hash, which never leaves
 * the repositories that check it. `version` starts at 1 and is bumped by every change; ETags and
 * cache entries are derived from it.
 */
export type User = Omit<UserRow, "passwordHash">;
