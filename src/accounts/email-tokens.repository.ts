import { and, eq, gt, lte, sql } from "drizzle-orm";
import { changedRows, type Db, runBatch } from "../db/client";
import { type EmailTokenPurpose, type EmailTokenRow, emailTokens, users } from "../db/schema";

export type EmailTokensRepository = {
  /**
   * Stores a new link's token, only while the user exists, is active and its email is still
   * `whileEmailIs` (false when not: the user was deleted, disabled or changed address since the
   * link was asked for). A verification or reset link voids the user's earlier ones of the same
   * purpose in the same batch; undo links (each to another replaced address) do not.
   */
  issue(token: EmailTokenRow, condition: { whileEmailIs: string }): Promise<boolean>;
  /**
   * Takes a token for use: deletes it and returns it if it exists, has this purpose and has not
   * expired at `now`; else null. One statement, so two uses racing each other cannot both succeed.
   */
  consume(tokenHash: string, purpose: EmailTokenPurpose, now: Date): Promise<EmailTokenRow | null>;
  /** Whether the token is stored and unexpired at `now` (its mail may still go out). */
  isPending(tokenHash: string, now: Date): Promise<boolean>;
  /** Puts back a token taken by `consume` whose use failed (nothing else was changed). */
  restore(token: EmailTokenRow): Promise<void>;
  /** Housekeeping: removes tokens that expired at or before `now`; returns how many. */
  deleteExpired(now: Date): Promise<number>;
};

export function createEmailTokensRepository(db: Db): EmailTokensRepository {
  const ofUser = (userId: string, purpose: EmailTokenPurpose) =>
    and(eq(emailTokens.userId, userId), eq(emailTokens.purpose, purpose));

  return {
    async issue(token, { whileEmailIs }) {
      const candidate = db
        .select({
          tokenHash: sql<string>`${token.tokenHash}`.as("token_hash"),
          userId: users.id,
          purpose: sql<string>`${token.purpose}`.as("purpose"),
          email: sql<string>`${token.email}`.as("email"),
          createdAt: sql<number>`${token.createdAt.getTime()}`.as("created_at"),
          expiresAt: sql<number>`${token.expiresAt.getTime()}`.as("expires_at"),
        })
        .from(users)
        .where(and(eq(users.id, token.userId), eq(users.email, whileEmailIs), eq(users.status, "active")));
      const insert = db.insert(emailTokens).select(candidate).returning({ tokenHash: emailTokens.tokenHash });
      if (token.purpose === "undo_email_change") return (await insert).length > 0;
      const [, inserted] = await runBatch(db, [
        db.delete(emailTokens).where(ofUser(token.userId, token.purpose)),
        insert,
      ]);
      return (inserted as unknown[]).length > 0;
    },

    async consume(tokenHash, purpose, now) {
      const [token] = await db
        .delete(emailTokens)
        .where(
          and(eq(emailTokens.tokenHash, tokenHash), eq(emailTokens.purpose, purpose), gt(emailTokens.expiresAt, now)),
        )
        .returning();
      return token ?? null;
    },

    async isPending(tokenHash, now) {
      const row = await db
        .select({ tokenHash: emailTokens.tokenHash })
        .from(emailTokens)
        .where(and(eq(emailTokens.tokenHash, tokenHash), gt(emailTokens.expiresAt, now)))
        .get();
      return row !== undefined;
    },

    async restore(token) {
      await db.insert(emailTokens).values(token).onConflictDoNothing().run();
    },

    async deleteExpired(now) {
      return changedRows(await db.delete(emailTokens).where(lte(emailTokens.expiresAt, now)).run());
    },
  };
}
