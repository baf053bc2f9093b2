import { AppError, ConflictError, rootCauseMessage, UnprocessableError } from "../lib/errors";
import { hmac } from "../lib/keys";
import { log } from "../lib/log";
import type { IdempotencyRepository, StoredResponse } from "./idempotency.repository";

/** How long a key is remembered (the IETF draft suggests 24 hours). */
const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
// A first request that has not finished after this long is considered dead; a retry may take over.
const ABANDONED_AFTER_MS = 60_000;

/** What a key is claimed for: the caller's key, and the request it names (fingerprinted). */
export type IdempotentRequest = {
  /** Whose key it is: `user:<id>` for an authenticated caller, `ip:<address>` otherwise. */
  scope: string;
  key: string;
  method: string;
  path: string;
  /** The validated body; the fingerprint covers all of it. */
  body: unknown;
};

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
    request: IdempotentRequest,
    write: () => Promise<T>,
    render: (result: T) => StoredResponse,
  ): Promise<{ response: StoredResponse; replayed: boolean }>;
  pruneExpired(): Promise<number>;
};

export type IdempotencyServiceDeps = {
  /** The HMAC key of request fingerprints (derived from APP_SECRET). */
  fingerprintKey: () => Promise<CryptoKey>;
  now?: () => Date;
};

export function createIdempotencyService(
  repository: IdempotencyRepository,
  { fingerprintKey, now = () => new Date() }: IdempotencyServiceDeps,
): IdempotencyService {
  return {
    async run(request, write, render) {
      const claim = {
        scope: request.scope,
        key: request.key,
        fingerprint: await requestFingerprint(await fingerprintKey(), request),
      };
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
 * HMAC-SHA-256, under a key derived from APP_SECRET, of a request's method, path and whole body as
 * canonical JSON (sorted keys): the same key on a body that differs anywhere, its password
 * included, is another request (422). Keyed, so the stored fingerprint cannot be used to test
 * password guesses offline, as a plain hash kept for a day could.
 */
export function requestFingerprint(key: CryptoKey, { method, path, body }: Omit<IdempotentRequest, "scope" | "key">) {
  const canonical = JSON.stringify(body, (_, value: unknown) =>
    value && typeof value === "object" && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)))
      : value,
  );
  return hmac(key, `${method} ${path}\n${canonical}`);
}
