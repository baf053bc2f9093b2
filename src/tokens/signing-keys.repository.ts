import { and, eq, gt, inArray, isNotNull, notExists, sql } from "drizzle-orm";
import { type Db, runBatch } from "../db/client";
import { keyRotationRequests, type SigningKeyRow, signingKeys } from "../db/schema";

const ROTATION_REQUEST = "signing-key";

export type SigningKeysRepository = {
  /** Every key, oldest first, and whether a rotation was asked for: one round trip. */
  load(): Promise<{ keys: SigningKeyRow[]; rotationRequested: boolean }>;
  /** Stores the very first key, only if there is none yet (isolates racing make one key). */
  insertFirst(key: SigningKeyRow): Promise<boolean>;
  /**
   * Stores `key` as the next one, only if none is waiting to sign already (`signsFrom` after `now`),
   * and clears any rotation request in the same batch.
   */
  insertNext(key: SigningKeyRow, now: Date): Promise<boolean>;
  /** Asks the service to rotate at its next key refresh (`npm run keys:rotate`). */
  requestRotation(now: Date): Promise<void>;
  clearRotationRequest(): Promise<void>;
  /**
   * Replaces a private half sealed under APP_SECRET_PREVIOUS with the same key sealed under
   * APP_SECRET, only if the row still holds what was read (another isolate may have done it).
   */
  reseal(kid: string, from: string, to: string): Promise<void>;
  /** Removes keys that have not signed yet (`signsFrom` after `now`): no token depends on them. */
  removeWaiting(kids: string[], now: Date): Promise<void>;
  /** Forgets the private halves of keys that no longer sign. */
  dropPrivateKeys(kids: string[]): Promise<void>;
  /** Removes keys no token can still need. */
  remove(kids: string[]): Promise<void>;
};

export function createSigningKeysRepository(db: Db): SigningKeysRepository {
  const onlyIf = (condition: ReturnType<typeof sql>, key: SigningKeyRow) =>
    db.insert(signingKeys).select(
      db
        .select({
          kid: sql<string>`${key.kid}`.as("kid"),
          publicJwk: sql<string>`${key.publicJwk}`.as("public_jwk"),
          encryptedPrivateJwk: sql<string | null>`${key.encryptedPrivateJwk}`.as("encrypted_private_jwk"),
          createdAt: sql<number>`${key.createdAt.getTime()}`.as("created_at"),
          signsFrom: sql<number>`${key.signsFrom.getTime()}`.as("signs_from"),
        })
        .from(sql`(select 1)`)
        .where(condition),
    );

  return {
    async load() {
      const [keys, requests] = await runBatch(db, [
        db.select().from(signingKeys).orderBy(signingKeys.signsFrom),
        db.select({ id: keyRotationRequests.id }).from(keyRotationRequests),
      ]);
      return { keys: keys as SigningKeyRow[], rotationRequested: (requests as unknown[]).length > 0 };
    },

    async insertFirst(key) {
      const inserted = await onlyIf(notExists(db.select().from(signingKeys)), key).returning({ kid: signingKeys.kid });
      return inserted.length > 0;
    },

    async insertNext(key, now) {
      const waiting = db.select().from(signingKeys).where(gt(signingKeys.signsFrom, now));
      const insert = onlyIf(notExists(waiting), key).returning({ kid: signingKeys.kid });
      const clearRequest = db.delete(keyRotationRequests).where(eq(keyRotationRequests.id, ROTATION_REQUEST));
      const [inserted] = await runBatch(db, [insert, clearRequest], { landing: insert });
      return (inserted as unknown[]).length > 0;
    },

    async requestRotation(now) {
      await db
        .insert(keyRotationRequests)
        .values({ id: ROTATION_REQUEST, requestedAt: now })
        .onConflictDoNothing()
        .run();
    },

    async clearRotationRequest() {
      await db.delete(keyRotationRequests).where(eq(keyRotationRequests.id, ROTATION_REQUEST)).run();
    },

    async reseal(kid, from, to) {
      await db
        .update(signingKeys)
        .set({ encryptedPrivateJwk: to })
        .where(and(eq(signingKeys.kid, kid), eq(signingKeys.encryptedPrivateJwk, from)))
        .run();
    },

    async removeWaiting(kids, now) {
      if (kids.length === 0) return;
      await db
        .delete(signingKeys)
        .where(and(inArray(signingKeys.kid, kids), gt(signingKeys.signsFrom, now)))
        .run();
    },

    async dropPrivateKeys(kids) {
      if (kids.length === 0) return;
      await db
        .update(signingKeys)
        .set({ encryptedPrivateJwk: null })
        .where(and(inArray(signingKeys.kid, kids), isNotNull(signingKeys.encryptedPrivateJwk)))
        .run();
    },

    async remove(kids) {
      if (kids.length === 0) return;
      await db.delete(signingKeys).where(inArray(signingKeys.kid, kids)).run();
    },
  };
}
