import { and, desc, eq, gte, inArray, lt, or, type SQL, sql } from "drizzle-orm";
import { changedRows, type Db } from "../db/client";
import { readGuarded, type SessionGuard } from "../db/guards";
import type { KeysetCursor } from "../http/cursor";
import { type AuditEventRow, auditEvents } from "./audit.schema";

export type AuditEventPageRequest = { after?: KeysetCursor | undefined; limit: number };

export type AuditEventFilter = AuditEventPageRequest & {
  type?: string | undefined;
  actorId?: string | undefined;
  targetId?: string | undefined;
  /** Events at or after this time. */
  since?: Date | undefined;
  /** Events before this time. */
  until?: Date | undefined;
};

export type AuditEventsRepository = {
  /** Newest first, keyset-paginated on (occurredAt, id), each filter served by its own index. */
  list(filter: AuditEventFilter, options: { guard: SessionGuard }): Promise<AuditEventRow[]>;
  /** The events a user did or underwent (actor or target), newest first. */
  listInvolving(userId: string, page: AuditEventPageRequest): Promise<AuditEventRow[]>;
  /**
   * Deletes events older than `before`, oldest first, `batchSize` rows a statement and at most
   * `maxBatches` statements, so one run never holds the database long; returns how many.
   */
  deleteOlderThan(before: Date, bounds: { batchSize: number; maxBatches: number }): Promise<number>;
};

const t = auditEvents;

// A row-value comparison, which SQLite answers with a range of the index the query walks (an OR of
// the two halves would not be).
function before(after: KeysetCursor | undefined): SQL | undefined {
  return after ? sql`(${t.occurredAt}, ${t.id}) < (${after.at.getTime()}, ${after.id})` : undefined;
}

const page = (db: Db, where: SQL | undefined, limit: number) =>
  db.select().from(t).where(where).orderBy(desc(t.occurredAt), desc(t.id)).limit(limit);

/** The query of one page of the audit log (its plan is tested: an index range per filter). */
export function auditLogQuery(db: Db, { type, actorId, targetId, since, until, after, limit }: AuditEventFilter) {
  const where = and(
    type !== undefined ? eq(t.type, type) : undefined,
    actorId !== undefined ? eq(t.actorUserId, actorId) : undefined,
    targetId !== undefined ? eq(t.targetId, targetId) : undefined,
    since ? gte(t.occurredAt, since) : undefined,
    until ? lt(t.occurredAt, until) : undefined,
    before(after),
  );
  return page(db, where, limit);
}

export function createAuditEventsRepository(db: Db): AuditEventsRepository {
  return {
    list(filter, { guard }) {
      return readGuarded<AuditEventRow[]>(db, guard, auditLogQuery(db, filter));
    },

    listInvolving(userId, { after, limit }) {
      return page(db, and(or(eq(t.actorUserId, userId), eq(t.targetId, userId)), before(after)), limit).all();
    },

    async deleteOlderThan(cutoff, { batchSize, maxBatches }) {
      let deleted = 0;
      for (let batch = 0; batch < maxBatches; batch++) {
        const oldest = db
          .select({ id: t.id })
          .from(t)
          .where(lt(t.occurredAt, cutoff))
          .orderBy(t.occurredAt)
          .limit(batchSize);
        const removed = changedRows(await db.delete(t).where(inArray(t.id, oldest)).run());
        deleted += removed;
        if (removed < batchSize) break;
      }
      return deleted;
    },
  };
}
