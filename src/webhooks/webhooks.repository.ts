import { and, desc, eq, isNull, lt, lte, or, type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { auditEvents } from "../audit/audit.schema";
import { changedRows, type Db, runBatch } from "../db/client";
import { guardRefusal } from "../db/errors";
import { guardQuery, guardStatement, type SessionGuard } from "../db/guards";
import {
  type DeliveryStatus,
  users,
  type WebhookDeliveryRow,
  type WebhookEndpointRow,
  webhookDeliveries,
  webhookEndpoints,
} from "../db/schema";
import type { KeysetCursor } from "../http/cursor";
import { newId } from "../lib/ids";

/** An event as the outbox takes it: what every matching endpoint will be sent. */
export type OutboxEvent = { id: string; type: string; occurredAt: Date; payload: string };

export type EndpointChanges = Partial<Pick<WebhookEndpointRow, "url" | "description" | "events" | "enabled">> & {
  updatedAt: Date;
};

export type Page = { limit: number; after?: KeysetCursor | undefined };

export type WebhooksRepository = {
  insertEndpoint(row: WebhookEndpointRow, guard: SessionGuard): Promise<WebhookEndpointRow>;
  listEndpoints(page: Page, guard: SessionGuard): Promise<WebhookEndpointRow[]>;
  findEndpoint(id: string, guard?: SessionGuard): Promise<WebhookEndpointRow | null>;
  updateEndpoint(id: string, changes: EndpointChanges, guard: SessionGuard): Promise<WebhookEndpointRow | null>;
  deleteEndpoint(id: string, guard: SessionGuard): Promise<boolean>;
  listDeliveries(endpointId: string, page: Page, guard: SessionGuard): Promise<WebhookDeliveryRow[]>;
  /**
   * The statement that joins a write's batch: one pending delivery per enabled endpoint subscribed
   * to the event's type (or to `*`). A write that fails leaves none; none exists without its write.
   */
  outboxStatement(
    event: OutboxEvent,
    now: Date,
    options?: { afterAuditEvent?: boolean; withUserOf?: string | undefined },
  ): BatchItem<"sqlite">;
  /** A delivery to one endpoint only (`POST /api/webhooks/{id}/test`). */
  insertDelivery(endpointId: string, event: OutboxEvent, now: Date): Promise<string>;
  /**
   * Pending deliveries of these events not yet handed to the queue (or, with `staleBefore`, handed
   * over but untouched since then: their message was lost), marked as handed over now.
   */
  takeForQueue(
    filter: { eventIds?: string[]; endpointId?: string; createdBefore?: Date; staleBefore?: Date },
    now: Date,
    limit: number,
  ): Promise<string[]>;
  /** A dead-lettered message's delivery, if still pending, is failed. */
  failPending(id: string, error: string, now: Date): Promise<void>;
  /** Every pending delivery of an endpoint is handed over again (it was enabled again). */
  requeueEndpoint(endpointId: string): Promise<void>;
  /** How many endpoints are enabled. */
  countEnabled(): Promise<number>;
  /** Hands back rows whose enqueue failed, for the cron to retry. */
  releaseFromQueue(ids: string[]): Promise<void>;
  findDelivery(id: string): Promise<{ delivery: WebhookDeliveryRow; endpoint: WebhookEndpointRow } | null>;
  recordAttempt(
    id: string,
    attempt: {
      attempt: number;
      status: DeliveryStatus;
      responseStatus: number | null;
      durationMs: number;
      error: string | null;
    },
    now: Date,
  ): Promise<void>;
  /** After a delivered attempt: the endpoint is healthy again. */
  markHealthy(endpointId: string): Promise<void>;
  /** After a failed attempt: when its run of failures began (kept if already failing). */
  markFailing(endpointId: string, now: Date): Promise<Date>;
  disableEndpoint(endpointId: string, reason: string, now: Date): Promise<void>;
  pruneDeliveries(before: Date, limit: number): Promise<number>;
};

/**
 * `payload` with `user`: the full user view (as `toUserView` makes it; a test keeps the two equal)
 * of the row as the write's batch left it, read in that batch. Unchanged when the row is gone.
 */
function withUser(payload: string, userId: string) {
  const iso = (column: SQL) => sql`strftime('%Y-%m-%dT%H:%M:%fZ', ${column} / 1000.0, 'unixepoch')`;
  return sql<string>`coalesce((select json_set(${payload}, '$.user', json_object(
      'id', ${users.id}, 'email', ${users.email}, 'username', ${users.username}, 'name', ${users.name},
      'role', ${users.role}, 'status', ${users.status},
      'emailVerified', json(case when ${users.emailVerified} then 'true' else 'false' end),
      'createdAt', ${iso(sql`${users.createdAt}`)}, 'updatedAt', ${iso(sql`${users.updatedAt}`)}))
    from ${users} where ${users.id} = ${userId}), ${payload})`;
}

export function createWebhooksRepository(db: Db): WebhooksRepository {
  async function guardedRead<T>(guard: SessionGuard, query: BatchItem<"sqlite">): Promise<T> {
    const [refused, rows] = await runBatch(db, [guardQuery(db, guard), query]);
    const reason = (refused as { reason: "session" | "role" }[])[0]?.reason;
    if (reason) throw guardRefusal(reason);
    return rows as T;
  }

  const newest = (page: Page, table: typeof webhookEndpoints | typeof webhookDeliveries) =>
    page.after
      ? or(lt(table.createdAt, page.after.at), and(eq(table.createdAt, page.after.at), lt(table.id, page.after.id)))
      : undefined;

  return {
    async insertEndpoint(row, guard) {
      await runBatch(db, [guardStatement(db, guard), db.insert(webhookEndpoints).values(row)], { result: row });
      return row;
    },

    listEndpoints(page, guard) {
      const query = db
        .select()
        .from(webhookEndpoints)
        .where(newest(page, webhookEndpoints))
        .orderBy(desc(webhookEndpoints.createdAt), desc(webhookEndpoints.id))
        .limit(page.limit);
      return guardedRead(guard, query);
    },

    async findEndpoint(id, guard) {
      const query = db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, id)).limit(1);
      const rows = guard ? await guardedRead<WebhookEndpointRow[]>(guard, query) : await query.all();
      return rows[0] ?? null;
    },

    async updateEndpoint(id, changes, guard) {
      // Enabling again clears what the service recorded when it disabled the endpoint.
      const set = changes.enabled === true ? { ...changes, disabledReason: null, failingSince: null } : changes;
      const update = db.update(webhookEndpoints).set(set).where(eq(webhookEndpoints.id, id)).returning();
      const [, rows] = await runBatch(db, [guardStatement(db, guard), update]);
      return (rows as WebhookEndpointRow[])[0] ?? null;
    },

    async deleteEndpoint(id, guard) {
      // Its deliveries go with it (explicitly: libSQL may run without foreign-key enforcement).
      const deliveries = db.delete(webhookDeliveries).where(eq(webhookDeliveries.endpointId, id));
      const remove = db.delete(webhookEndpoints).where(eq(webhookEndpoints.id, id));
      const [, , result] = await runBatch(db, [guardStatement(db, guard), deliveries, remove], {
        result: { id },
        landing: remove,
      });
      return changedRows(result) > 0;
    },

    listDeliveries(endpointId, page, guard) {
      const query = db
        .select()
        .from(webhookDeliveries)
        .where(and(eq(webhookDeliveries.endpointId, endpointId), newest(page, webhookDeliveries)))
        .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
        .limit(page.limit);
      return guardedRead(guard, query);
    },

    outboxStatement(event, now, { afterAuditEvent = false, withUserOf } = {}) {
      const at = now.getTime();
      // A UUIDv7 per row, made in SQL (one statement makes any number of rows): the batch's time in
      // the first 48 bits, then random bits, with the version and variant nibbles set.
      const rowId = sql`printf('%08x-%04x-7%03x-%04x-%012x', ${at} >> 16, ${at} & 65535,
        abs(random()) % 4096, 32768 + abs(random()) % 16384, abs(random()) % 281474976710656)`;
      return db.insert(webhookDeliveries).select(
        db
          .select({
            id: sql<string>`${rowId}`.as("id"),
            endpointId: webhookEndpoints.id,
            eventId: sql<string>`${event.id}`.as("event_id"),
            eventType: sql<string>`${event.type}`.as("event_type"),
            payload: (withUserOf ? withUser(event.payload, withUserOf) : sql<string>`${event.payload}`).as("payload"),
            occurredAt: sql<number>`${event.occurredAt.getTime()}`.as("occurred_at"),
            status: sql<DeliveryStatus>`'pending'`.as("status"),
            attempt: sql<number>`0`.as("attempt"),
            responseStatus: sql<null>`null`.as("response_status"),
            durationMs: sql<null>`null`.as("duration_ms"),
            error: sql<null>`null`.as("error"),
            enqueuedAt: sql<null>`null`.as("enqueued_at"),
            createdAt: sql<number>`${at}`.as("created_at"),
            updatedAt: sql<number>`${at}`.as("updated_at"),
          })
          .from(webhookEndpoints)
          .where(
            and(
              eq(webhookEndpoints.enabled, true),
              sql`exists (select 1 from json_each(${webhookEndpoints.events}) where value in ('*', ${event.type}))`,
              // Joined to a write after its event's insert: only if that row exists (the write landed).
              afterAuditEvent
                ? sql`exists (select 1 from ${auditEvents} where ${auditEvents.id} = ${event.id})`
                : undefined,
            ),
          ),
      );
    },

    async insertDelivery(endpointId, event, now) {
      const id = newId();
      await db
        .insert(webhookDeliveries)
        .values({
          id,
          endpointId,
          eventId: event.id,
          eventType: event.type,
          payload: event.payload,
          occurredAt: event.occurredAt,
          createdAt: now,
          updatedAt: now,
        })
        .run();
      return id;
    },

    async takeForQueue({ eventIds, endpointId, createdBefore, staleBefore }, now, limit) {
      if (eventIds?.length === 0) return [];
      const candidates = db
        .select({ id: webhookDeliveries.id })
        .from(webhookDeliveries)
        .where(
          and(
            eq(webhookDeliveries.status, "pending"),
            staleBefore
              ? or(isNull(webhookDeliveries.enqueuedAt), lt(webhookDeliveries.updatedAt, staleBefore))
              : isNull(webhookDeliveries.enqueuedAt),
            eventIds ? sql`${webhookDeliveries.eventId} in ${eventIds}` : undefined,
            endpointId ? eq(webhookDeliveries.endpointId, endpointId) : undefined,
            createdBefore ? lte(webhookDeliveries.createdAt, createdBefore) : undefined,
          ),
        )
        .limit(limit);
      // Claimed in the statement that finds them: two sweeps never hand the same row over twice.
      const rows = await db
        .update(webhookDeliveries)
        .set({ enqueuedAt: now, updatedAt: now })
        .where(
          and(
            sql`${webhookDeliveries.id} in ${candidates}`,
            staleBefore
              ? or(isNull(webhookDeliveries.enqueuedAt), lt(webhookDeliveries.updatedAt, staleBefore))
              : isNull(webhookDeliveries.enqueuedAt),
          ),
        )
        .returning({ id: webhookDeliveries.id });
      return rows.map((row) => row.id);
    },

    async failPending(id, error, now) {
      await db
        .update(webhookDeliveries)
        .set({ status: "failed", error, updatedAt: now })
        .where(and(eq(webhookDeliveries.id, id), eq(webhookDeliveries.status, "pending")))
        .run();
    },

    async requeueEndpoint(endpointId) {
      await db
        .update(webhookDeliveries)
        .set({ enqueuedAt: null })
        .where(and(eq(webhookDeliveries.endpointId, endpointId), eq(webhookDeliveries.status, "pending")))
        .run();
    },

    async countEnabled() {
      const row = await db
        .select({ n: sql<number>`count(*)` })
        .from(webhookEndpoints)
        .where(eq(webhookEndpoints.enabled, true))
        .get();
      return Number(row?.n ?? 0);
    },

    async releaseFromQueue(ids) {
      if (ids.length === 0) return;
      await db.update(webhookDeliveries).set({ enqueuedAt: null }).where(sql`${webhookDeliveries.id} in ${ids}`).run();
    },

    async findDelivery(id) {
      const row = await db
        .select({ delivery: webhookDeliveries, endpoint: webhookEndpoints })
        .from(webhookDeliveries)
        .innerJoin(webhookEndpoints, eq(webhookEndpoints.id, webhookDeliveries.endpointId))
        .where(eq(webhookDeliveries.id, id))
        .get();
      return row ?? null;
    },

    async recordAttempt(id, attempt, now) {
      await db
        .update(webhookDeliveries)
        .set({ ...attempt, updatedAt: now })
        .where(eq(webhookDeliveries.id, id))
        .run();
    },

    async markHealthy(endpointId) {
      await db.update(webhookEndpoints).set({ failingSince: null }).where(eq(webhookEndpoints.id, endpointId)).run();
    },

    async markFailing(endpointId, now) {
      const row = await db
        .update(webhookEndpoints)
        .set({ failingSince: sql`coalesce(${webhookEndpoints.failingSince}, ${now.getTime()})` })
        .where(eq(webhookEndpoints.id, endpointId))
        .returning({ failingSince: webhookEndpoints.failingSince })
        .get();
      return row?.failingSince ?? now;
    },

    async disableEndpoint(endpointId, reason, now) {
      await db
        .update(webhookEndpoints)
        .set({ enabled: false, disabledReason: reason, updatedAt: now })
        .where(eq(webhookEndpoints.id, endpointId))
        .run();
    },

    async pruneDeliveries(before, limit) {
      const old = db
        .select({ id: webhookDeliveries.id })
        .from(webhookDeliveries)
        .where(and(sql`${webhookDeliveries.status} <> 'pending'`, lt(webhookDeliveries.createdAt, before)))
        .limit(limit);
      const result = await db.delete(webhookDeliveries).where(sql`${webhookDeliveries.id} in ${old}`).run();
      return changedRows(result);
    },
  };
}
