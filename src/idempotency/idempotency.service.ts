import { AppError, ConflictError, rootCauseMessage, UnprocessableError } from "../lib/errors";
import { log } from "../lib/log";
import { sha256 } from "../lib/tokens";
import type { IdempotencyClaim, IdempotencyRepository, StoredResponse } from "./idempotency.repository";

/** How long a key is remembered (the IETF draft suggests 24 hours). */
const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
// A first request that has not finished after this long is considered dead; a retry may take over.
const ABANDONED_AFTER_MS = 60_000;

export type IdempotencyService = {
  /**
   * Runs `write` at most once per claim (caller + Idempotency-Key). A retry of a finished request
   * gets its stored response back (`replayed`); a retry while the first is still running is a 409;
   * the same key on a different request is a 422. The response `render` makes of the write's
   * result is stored in the write's own atomic batch (the write's repository runs it with
   * runBatch, which the completion joins), so a write never lands without its response. If the
   * write is refused, the key is released.
   */
  run<T>(
    claim: IdempotencyClaim,
    write: () => Promise<T>,
    render: (result: T) => StoredResponse,
  ): Promise<{ response: StoredResponse; replayed: boolean }>;
  pruneExpired(): Promise<number>;
};

export function createIdempotencyService(
  repository: IdempotencyRepository,
  now: () => Date = () => new Date(),
): IdempotencyService {
  return {
    async run(claim, write, render) {
      const reservation = await repository.reserve(claim, {
        now: now(),
        ttlMs: IDEMPOTENCY_TTL_MS,
        abandonedAfterMs: ABANDONED_AFTER_MS,
      });
      if (reservation.outcome === "replay") return { response: reservation.response, replayed: true };
      if (reservation.outcome === "in_flight") {
        throw new ConflictError("A request with this Idempotency-Key is still being processed; retry shortly.");
      }
      if (reservation.outcome === "mismatch") {
        throw new UnprocessableError("This Idempotency-Key was already used for a different request.");
      }
      let stored: StoredResponse | undefined;
      repository.completeWithNextWrite(claim, (result) => {
        stored = render(result as Parameters<typeof render>[0]);
        return stored;
      });
      try {
        await write();
      } catch (error) {
        // Only a refusal (a 4xx: nothing was written) gives the key back. After a 5xx or a timeout
        // the write may still have landed, with its response stored under this key; the key stays
        // reserved, and a retry gets 409 until that is settled or the reservation is abandoned.
        if (error instanceof AppError && error.status < 500) {
          await repository.release(claim).catch((releaseError: unknown) => {
            log("warn", "idempotency key not released; it frees itself after a minute", {
              error: rootCauseMessage(releaseError),
            });
          });
        }
        throw error;
      } finally {
        repository.cancelCompletion();
      }
      if (!stored) throw new Error("the idempotent write did not commit through runBatch");
      return { response: stored, replayed: false };
    },

    pruneExpired() {
      return repository.deleteExpired(now());
    },
  };
}

/**
 * Canonical JSON (sorted keys) of a request's method, path and validated body, hashed, without
 * any password in it: a fast hash of a password kept for a day would be guessable offline. A retry
 * that differs only in its password therefore counts as the same request.
 */
export async function requestFingerprint(method: string, path: string, body: unknown): Promise<string> {
  const canonical = JSON.stringify(body, (key, value: unknown) =>
    /password/i.test(key)
      ? undefined
      : value && typeof value === "object" && !Array.isArray(value)
        ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)))
        : value,
  );
  return sha256(`${method} ${path}\n${canonical}`);
}
