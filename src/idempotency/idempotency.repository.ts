import { and, eq, lte, or } from "drizzle-orm";
import { changedRows, type Db, dropPendingCompanions, joinNextWrite } from "../db/client";
import { idempotencyKeys } from "../db/schema";

/** A response as it is stored and replayed. */
export type StoredResponse = { status: number; headers: Record<string, string>; body: string };

export type IdempotencyClaim = { scope: string; key: string; fingerprint: string };

export type Reservation =
  | { outcome: "reserved" }
  | { outcome: "replay"; response: StoredResponse }
  | { outcome: "in_flight" }
  | { outcome: "mismatch" };

export type IdempotencyRepository = {
  /**
   * Claims the key for this request, atomically. A key that expired, or whose first request never
   * finished within `abandonedAfterMs`, is taken over.
   */
  reserve(
    claim: IdempotencyClaim,
    options: { now: Date; ttlMs: number; abandonedAfterMs: number },
  ): Promise<Reservation>;
  /**
   * Completes the reservation in the same atomic batch as this request's next write, with the
   * response `render` makes of that write's result (see joinNextWrite).
   */
  completeWithNextWrite(claim: IdempotencyClaim, render: (result: unknown) => StoredResponse): void;
  /** Cancels a completion that no write took. */
  cancelCompletion(): void;
  /** Gives the key back after a failed attempt, so a retry can run again. */
  release(claim: Pick<IdempotencyClaim, "scope" | "key">): Promise<void>;
  deleteExpired(now: Date): Promise<number>;
};

export function createIdempotencyRepository(db: Db): IdempotencyRepository {
  const where = (scope: string, key: string) => and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key));

  return {
    async reserve({ scope, key, fingerprint }, { now, ttlMs, abandonedAfterMs }) {
      const fresh = {
        scope,
        key,
        fingerprint,
        state: "in_flight" as const,
        responseStatus: null,
        responseHeaders: null,
        responseBody: null,
        createdAt: now,
        expiresAt: new Date(now.getTime() + ttlMs),
      };
      const claimed = await db
        .insert(idempotencyKeys)
        .values(fresh)
        .onConflictDoUpdate({
          target: [idempotencyKeys.scope, idempotencyKeys.key],
          set: { ...fresh, scope: undefined, key: undefined },
          // An expired key is free; an abandoned one only for the same request (else it is a 422).
          setWhere: or(
            lte(idempotencyKeys.expiresAt, now),
            and(
              eq(idempotencyKeys.state, "in_flight"),
              eq(idempotencyKeys.fingerprint, fingerprint),
              lte(idempotencyKeys.createdAt, new Date(now.getTime() - abandonedAfterMs)),
            ),
          ),
        })
        .returning({ key: idempotencyKeys.key })
        .get();
      if (claimed) return { outcome: "reserved" };

      const existing = await db.select().from(idempotencyKeys).where(where(scope, key)).get();
      if (!existing) return this.reserve({ scope, key, fingerprint }, { now, ttlMs, abandonedAfterMs });
      if (existing.fingerprint !== fingerprint) return { outcome: "mismatch" };
      if (existing.state === "in_flight") return { outcome: "in_flight" };
      return {
        outcome: "replay",
        response: {
          status: existing.responseStatus ?? 200,
          headers: existing.responseHeaders ?? {},
          body: existing.responseBody ?? "",
        },
      };
    },

    completeWithNextWrite({ scope, key }, render) {
      joinNextWrite(db, (result) => {
        const response = render(result);
        return db
          .update(idempotencyKeys)
          .set({
            state: "completed",
            responseStatus: response.status,
            responseHeaders: response.headers,
            responseBody: response.body,
          })
          .where(and(where(scope, key), eq(idempotencyKeys.state, "in_flight")));
      });
    },

    cancelCompletion() {
      dropPendingCompanions(db);
    },

    async release({ scope, key }) {
      await db
        .delete(idempotencyKeys)
        .where(and(where(scope, key), eq(idempotencyKeys.state, "in_flight")))
        .run();
    },

    async deleteExpired(now) {
      const result = await db.delete(idempotencyKeys).where(lte(idempotencyKeys.expiresAt, now)).run();
      return changedRows(result);
    },
  };
}
