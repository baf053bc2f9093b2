import { rootCauseMessage } from "../db/errors";
import { log } from "../lib/log";

/** KV refuses TTLs under 60 seconds. */
export const KV_MIN_TTL_SECONDS = 60;

export type KvCache = {
  /** The parsed entry, or null on a miss, a malformed entry, an error or a timeout (all logged but the miss). */
  get<T>(key: string, parse: (value: unknown) => T | null): Promise<T | null>;
  /** Stores JSON for `ttlSeconds` (at least KV's minimum). Throws on failure. */
  put(key: string, value: unknown, ttlSeconds: number): Promise<void>;
  /** Throws on failure: a purge that did not happen must not be mistaken for one that did. */
  delete(key: string): Promise<void>;
};

/**
 * Workers KV as a cache tier: reads are bounded by a timeout and never fail a request (a slow
 * or failing KV means "ask the database"), writes say when they fail.
 */
export function createKvCache(
  binding: KVNamespace,
  { readTimeoutMs, writeTimeoutMs = 1000 }: { readTimeoutMs: number; writeTimeoutMs?: number },
): KvCache {
  return {
    async get(key, parse) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const timeout = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), readTimeoutMs);
        });
        const value = await Promise.race([binding.get(key, "json"), timeout]);
        if (value === "timeout") {
          log("warn", "kv read timed out; using the database", { key: redact(key), timeoutMs: readTimeoutMs });
          return null;
        }
        if (value === null) return null;
        const parsed = parse(value);
        if (parsed === null) log("warn", "kv entry malformed; ignoring it", { key: redact(key) });
        return parsed;
      } catch (error) {
        log("warn", "kv read failed; using the database", { key: redact(key), error: rootCauseMessage(error) });
        return null;
      } finally {
        if (timer !== undefined) clearTimeout(timer);
      }
    },

    async put(key, value, ttlSeconds) {
      const expirationTtl = Math.max(KV_MIN_TTL_SECONDS, Math.floor(ttlSeconds));
      await bounded(binding.put(key, JSON.stringify(value), { expirationTtl }), writeTimeoutMs, "put");
    },

    async delete(key) {
      await bounded(binding.delete(key), writeTimeoutMs, "delete");
    },
  };
}

/** A KV write that has not answered in time counts as failed (a slow KV must not stall writes). */
async function bounded(write: Promise<void>, timeoutMs: number, operation: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`KV ${operation} timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([write, timeout]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** Keys embed user ids and token hashes; logs keep only the kind. */
export function redact(key: string): string {
  return `${key.split(":")[0]}:…`;
}
