import { and, eq, gt, lte, sql } from "drizzle-orm";
import { recordStaleSessions } from "../cache/outbox";
import { changedRows, type Db, runBatch } from "../db/client";
import { type SessionRow, sessions, type User, users } from "../db/schema";
import { userColumns } from "../users/users.repository";

export type ActiveSession = { id: string; expiresAt: Date; user: User };

export type SessionsRepository = {
  /**
   * Creates the session only if its user is still active and still has `passwordHash`, checked in
   * the insert itself: a sign-in racing a password change, a disable or a delete creates nothing.
   * True when the session was created.
   */
  insert(session: SessionRow, credentials: { passwordHash: string }): Promise<boolean>;
  /** One indexed query: the unexpired session with this token hash and its active user. */
  findActiveByTokenHash(tokenHash: string, now: Date): Promise<ActiveSession | null>;
  /** Deletes one session; returns the cache keys recorded as stale (if the repository records them). */
  revoke(session: { id: string; tokenHash: string }): Promise<{ staleKeys: string[] }>;
  /** Removes sessions that expired at or before `now`; returns how many. */
  deleteExpired(now: Date): Promise<number>;
};

export function createSessionsRepository(
  db: Db,
  { recordStale = false }: { recordStale?: boolean } = {},
): SessionsRepository {
  return {
    async insert(session, { passwordHash }) {
      const candidate = db
        .select({
          id: sql<string>`${session.id}`.as("id"),
          userId: users.id,
          tokenHash: sql<string>`${session.tokenHash}`.as("token_hash"),
          createdAt: sql<number>`${session.createdAt.getTime()}`.as("created_at"),
          expiresAt: sql<number>`${session.expiresAt.getTime()}`.as("expires_at"),
        })
        .from(users)
        .where(and(eq(users.id, session.userId), eq(users.passwordHash, passwordHash), eq(users.status, "active")));
      const created = await db.insert(sessions).select(candidate).returning({ id: sessions.id });
      return created.length > 0;
    },

    async findActiveByTokenHash(tokenHash, now) {
      const row = await db
        .select({ id: sessions.id, expiresAt: sessions.expiresAt, user: userColumns })
        .from(sessions)
        .innerJoin(users, eq(users.id, sessions.userId))
        .where(and(eq(sessions.tokenHash, tokenHash), gt(sessions.expiresAt, now), eq(users.status, "active")))
        .get();
      return row ?? null;
    },

    async revoke({ id, tokenHash }) {
      const remove = db.delete(sessions).where(eq(sessions.id, id));
      if (!recordStale) {
        await remove.run();
        return { staleKeys: [] };
      }
      const where = and(eq(sessions.id, id), eq(sessions.tokenHash, tokenHash));
      const [recorded] = await runBatch(db, [recordStaleSessions(db, where, new Date()), remove]);
      return { staleKeys: (recorded as { key: string }[]).map((row) => row.key) };
    },

    async deleteExpired(now) {
      const result = await db.delete(sessions).where(lte(sessions.expiresAt, now)).run();
      return changedRows(result);
    },
  };
}
