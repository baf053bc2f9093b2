import { sql } from "drizzle-orm";
import { check, index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** The most characters an event's `data` takes as JSON: what happened, never a copy of the record. */
export const EVENT_DATA_MAX_LENGTH = 2048;

/**
 * Security events: who did what to which account, each inserted in the same batch as the write it
 * describes (src/audit/audit.events.ts), so an event exists exactly when its write does. No foreign
 * keys: a deleted user's history outlives it, until the retention prunes it. `data` is bounded
 * and never holds a secret (the recorder refuses one). A webhook outbox can be filled in the same
 * batch from the event row itself (`insert … select … from audit_events where id = ?`).
 */
export const auditEvents = sqliteTable(
  "audit_events",
  {
    // UUIDv7: sorts by time; with `occurred_at` the newest-first keyset.
    id: text("id").primaryKey(),
    type: text("type").notNull(),
    occurredAt: integer("occurred_at", { mode: "timestamp_ms" }).notNull(),
    /** Who did it: null for an anonymous request (sign-up, a mailed link) and the service itself (the cron). */
    actorUserId: text("actor_user_id"),
    actorIp: text("actor_ip"),
    actorUserAgent: text("actor_user_agent"),
    targetType: text("target_type").notNull(),
    targetId: text("target_id").notNull(),
    data: text("data", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    requestId: text("request_id"),
  },
  (table) => [
    // One index per filter of GET /api/audit-events, each ending in the newest-first keyset, so a
    // page is a range of one index read backwards: no scan, no sort.
    index("audit_events_occurred_at_id_idx").on(table.occurredAt, table.id),
    index("audit_events_type_idx").on(table.type, table.occurredAt, table.id),
    index("audit_events_actor_idx").on(table.actorUserId, table.occurredAt, table.id),
    index("audit_events_target_idx").on(table.targetId, table.occurredAt, table.id),
    // The bounds the recorder keeps (src/lib/user-agent.ts, EVENT_DATA_MAX_LENGTH), held by the table too.
    check("audit_events_user_agent_length", sql`length(${table.actorUserAgent}) <= 256`),
    check("audit_events_data_length", sql`length(${table.data}) <= 2048`),
  ],
);

export type AuditEventRow = typeof auditEvents.$inferSelect;
