import { and, desc, eq, gt, lte, ne, type SQL, sql } from "drizzle-orm";
import { recordStaleSessions } from "../cache/outbox";
import { changedRows, type Db, runBatch } from "../db/client";
import { guardRefusal } from "../db/errors";
import { guardQuery, guardStatement, type SessionGuard } from "../db/guards";
import { type NewSessionRow, sessions, type User, users } from "../db/schema";
import { userColumns } from "../users/users.repository";

export type ActiveSession = { id: string; expiresAt: Date; user: User };

/** A session as its owner sees it in the list. */
export type SessionSummary = { id: string; createdAt: Date; expiresAt: Date; userAgent: string | null };

// Cache keys the write recorded as stale (empty unless the repository records them).
type Revoked = { revoked: number; staleKeys: string[] };

export type SessionsRepository = {
  /**
   * Creates the session only if its user is still active and still has `passwordHash`, checked in
   * the insert itself: a sign-in racing a password change, a disable or a delete creates nothing.
   * True when the session was created.
   */
  insert(session: NewSessionRow, credentials: { passwordHash: string }): Promise<boolean>;
  /** One indexed query: the unexpired session with this token hash and its active user. */
  findActiveByTokenHash(tokenHash: string, now: Date): Promise<ActiveSession | null>;
  /** Deletes one session; returns the cache keys recorded as stale (if the repository records them). */
  revoke(session: { id: string; tokenHash: string }): Promise<{ staleKeys: string[] }>;
  /** Removes sessions that expired at or before `now`; returns how many. */
  deleteExpired(now: Date): Promise<number>;
  /** The session `id` if it is live in the database (never a cache): unexpired, its user active. */
  findLiveById(id: string, now: Date): Promise<ActiveSession | null>;
  /** The user's unexpired sessions, newest first, at most `limit`. */
  listForUser(userId: string, now: Date, limit: number): Promise<SessionSummary[]>;
  /**
   * Revokes the user's session `id` (none if it is another user's), or every session of the user
   * but `exceptId`; in one batch with `guard`, the acting session's check.
   */
  revokeOwned(userId: string, which: { id: string } | { exceptId: string }, guard: SessionGuard): Promise<Revoked>;
  /** Throws the guard's 401 or 403 if the acting session is not live or lacks the role (one query). */
  check(guard: SessionGuard): Promise<void>;
};

export function createSessionsRepository(
  db: Db,
  { recordStale = false }: { recordStale?: boolean } = {},
): SessionsRepository {
  /** The one session `which` selects, if unexpired and its user active, with that user: one query. */
  async function liveSession(which: SQL, now: Date): Promise<ActiveSession | null> {
    const row = await db
      .select({ id: sessions.id, expiresAt: sessions.expiresAt, user: userColumns })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(and(which, gt(sessions.expiresAt, now), eq(users.status, "active")))
      .get();
    return row ?? null;
  }

  return {
    async insert(session, { passwordHash }) {
      const candidate = db
        .select({
          id: sql<string>`${session.id}`.as("id"),
          userId: users.id,
          tokenHash: sql<string>`${session.tokenHash}`.as("token_hash"),
          createdAt: sql<number>`${session.createdAt.getTime()}`.as("created_at"),
          expiresAt: sql<number>`${session.expiresAt.getTime()}`.as("expires_at"),
          userAgent: sql<string | null>`${session.userAgent ?? null}`.as("user_agent"),
        })
        .from(users)
        .where(and(eq(users.id, session.userId), eq(users.passwordHash, passwordHash), eq(users.status, "active")));
      const insert = db.insert(sessions).select(candidate).returning({ id: sessions.id });
      // A batch of one, so what joins the sign-in (its event) commits with the session, if it is made.
      const [created] = await runBatch(db, [insert], { landing: insert });
      return (created as unknown[]).length > 0;
    },

    findActiveByTokenHash(tokenHash, now) {
      return liveSession(eq(sessions.tokenHash, tokenHash), now);
    },

    async revoke({ id, tokenHash }) {
      const remove = db.delete(sessions).where(eq(sessions.id, id));
      const where = and(eq(sessions.id, id), eq(sessions.tokenHash, tokenHash));
      const records = recordStale ? [recordStaleSessions(db, where, new Date())] : [];
      const [recorded] = await runBatch(db, [...records, remove], { landing: remove });
      return { staleKeys: recordStale ? (recorded as { key: string }[]).map((row) => row.key) : [] };
    },

    async deleteExpired(now) {
      const result = await db.delete(sessions).where(lte(sessions.expiresAt, now)).run();
      return changedRows(result);
    },

    findLiveById(id, now) {
      return liveSession(eq(sessions.id, id), now);
    },

    listForUser(userId, now, limit) {
      return db
        .select({
          id: sessions.id,
          createdAt: sessions.createdAt,
          expiresAt: sessions.expiresAt,
          userAgent: sessions.userAgent,
        })
        .from(sessions)
        .where(and(eq(sessions.userId, userId), gt(sessions.expiresAt, now)))
        .orderBy(desc(sessions.createdAt), desc(sessions.id))
        .limit(limit)
        .all();
    },

    async revokeOwned(userId, which, guard) {
      const where: SQL | undefined = and(
        eq(sessions.userId, userId),
        "id" in which ? eq(sessions.id, which.id) : ne(sessions.id, which.exceptId),
      );
      const records = recordStale ? [recordStaleSessions(db, where, guard.at)] : [];
      const remove = db.delete(sessions).where(where).returning({ id: sessions.id });
      // The guard first: revoking the current session must not make its own check fail.
      const results = await runBatch(db, [guardStatement(db, guard), ...records, remove], { landing: remove });
      const staleKeys = recordStale ? (results[1] as { key: string }[]).map((row) => row.key) : [];
      return { revoked: (results[1 + records.length] as unknown[]).length, staleKeys };
    },

    async check(guard) {
      const [refused] = await runBatch(db, [guardQuery(db, guard)]);
      const reason = (refused as { reason: "session" | "role" }[])[0]?.reason;
      if (reason) throw guardRefusal(reason);
    },
  };
}
