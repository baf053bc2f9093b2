import { and, inArray, lte, type SQL, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { sessions, stalePurges, users } from "../db/schema";
import { SESSION_KEY_PREFIX, USER_KEY_PREFIX } from "./keys";

/**
 * The outbox of cache keys a write makes stale (see `stalePurges` in schema.ts). Each recorder is
 * a statement to run first in the write's own batch, guarded by the write's own condition, so a
 * write that is refused records nothing; each returns the keys it recorded.
 */
export function recordStaleUser(db: Db, where: SQL | undefined, at: Date) {
  const rows = db
    .select(staleRow(sql`${USER_KEY_PREFIX} || ${users.id}`, at))
    .from(users)
    .where(where);
  return db.insert(stalePurges).select(rows).onConflictDoUpdate(later).returning({ key: stalePurges.key });
}

/** Records the keys of the sessions matching `where`, computed in SQL before they are deleted. */
export function recordStaleSessions(db: Db, where: SQL | undefined, at: Date) {
  const key = sql`${SESSION_KEY_PREFIX} || ${sessions.tokenHash}`;
  const rows = db.select(staleRow(key, at)).from(sessions).where(where);
  return db.insert(stalePurges).select(rows).onConflictDoUpdate(later).returning({ key: stalePurges.key });
}

function staleRow(key: SQL, at: Date) {
  return { key: sql<string>`${key}`.as("key"), recordedAt: sql<number>`${at.getTime()}`.as("recorded_at") };
}

// A key recorded again keeps one row, with the later time: a write that took its timestamp earlier
// must not make a pending purge look older than it is (the cron would then forget it too soon).
const later = {
  target: stalePurges.key,
  set: { recordedAt: sql`max(${stalePurges.recordedAt}, excluded.recorded_at)` },
};

export type StalePurgesRepository = {
  listRecordedBefore(before: Date, limit: number): Promise<string[]>;
  /** Forgets keys purged since they were recorded; a key re-recorded after `purgedFrom` stays. */
  forget(keys: string[], purgedFrom: Date): Promise<void>;
};

export function createStalePurgesRepository(db: Db): StalePurgesRepository {
  return {
    async listRecordedBefore(before, limit) {
      const rows = await db
        .select({ key: stalePurges.key })
        .from(stalePurges)
        .where(lte(stalePurges.recordedAt, before))
        .orderBy(stalePurges.recordedAt)
        .limit(limit)
        .all();
      return rows.map((row) => row.key);
    },

    async forget(keys, purgedFrom) {
      if (keys.length === 0) return;
      await db
        .delete(stalePurges)
        .where(and(inArray(stalePurges.key, keys), lte(stalePurges.recordedAt, purgedFrom)))
        .run();
    },
  };
}
