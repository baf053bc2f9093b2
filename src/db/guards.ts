import { and, eq, gt, isNull, ne, or, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { alias } from "drizzle-orm/sqlite-core";
import { type Db, runBatch } from "./client";
import { guardRefusal } from "./errors";
import { type Role, sessions, users, writeGuards } from "./schema";

/**
 * What a request made on behalf of a session requires when it reaches the database: the session
 * still live (unexpired, its user active) and, when the decision to allow it rested on the
 * caller's role, the user still having that role. Checked in D1 itself, never from KV, whose copies
 * may lag by up to a minute in other locations.
 */
export type SessionGuard = { sessionId: string; role?: Role | undefined; at: Date };

// One row with the reason ('session': not live; 'role': the user lacks the role) when the guard
// fails; no row when it holds.
function refusalReason(db: Db, { sessionId, role, at }: SessionGuard) {
  const session = alias(sessions, "guard_session");
  const user = alias(users, "guard_user");
  return db
    .select({
      reason: sql<"session" | "role">`case when ${user.id} is null then 'session' else 'role' end`.as("reason"),
    })
    .from(sql`(select 1)`)
    .leftJoin(session, and(eq(session.id, sessionId), gt(session.expiresAt, at)))
    .leftJoin(user, and(eq(user.id, session.userId), eq(user.status, "active")))
    .where(or(isNull(user.id), role ? ne(user.role, role) : undefined));
}

/**
 * For a write: a statement for the write's own batch that inserts the refusal reason into the
 * always-empty `write_guards` table when the guard does not hold. The table's check constraints
 * refuse every such insert, so the batch fails as a whole and nothing of the write remains
 * (runBatch turns the failure into a 401 or a 403). No extra round trip, and no window between a
 * check and the write.
 */
export function guardStatement(db: Db, guard: SessionGuard): BatchItem<"sqlite"> {
  return db.insert(writeGuards).select(refusalReason(db, guard));
}

/** For a read: a query for the read's batch whose one row, if any, says why the guard fails. */
export function guardQuery(db: Db, guard: SessionGuard): BatchItem<"sqlite"> {
  return refusalReason(db, guard);
}

/**
 * Runs a read that rests on `guard` with the guard's check in the same round trip; throws the
 * guard's 401 or 403 when it does not hold.
 */
export async function readGuarded<T>(db: Db, guard: SessionGuard, query: BatchItem<"sqlite">): Promise<T> {
  const [refused, rows] = await runBatch(db, [guardQuery(db, guard), query]);
  const reason = (refused as { reason: "session" | "role" }[])[0]?.reason;
  if (reason) throw guardRefusal(reason);
  return rows as T;
}
