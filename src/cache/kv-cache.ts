import { rootCauseMessage } from "../lib/errors";
import { log } from "../lib/log";
import type { RequestMetrics } from "../lib/metrics";
import { withTimeout } from "../lib/timeout";

/** KV refuses TTLs under 60 seconds. */
const KV_MIN_TTL_SECONDS = 60;

export type KvCache = {
  /** The parsed entry, or null on a miss, a malformed entry, an error or a timeout (all logged but the miss). */
  get<T>(key: string, parse: (value: unknown) => T | null): Promise<T | null>;
  /** Stores JSON for `ttlSeconds` (at least KV's minimum). Throws on failure or timeout. */
  put(key: string, value: unknown, ttlSeconds: number): Promise<void>;
  /** Throws on failure or timeout: a purge that did not happen must not be mistaken for one that did. */
  delete(key: string): Promise<void>;
};

/**
 * Workers KV as a cache tier: reads are bounded by a timeout and never fail a request (a slow
 * or failing KV means "ask the database"), writes are bounded too and say when they fail.
 */
export function createKvCache(
  binding: KVNamespace,
  { readTimeoutMs, writeTimeoutMs = 1000 }: { readTimeoutMs: number; writeTimeoutMs?: number },
): KvCache {
  return {
    async get(key, parse) {
      let value: unknown;
      try {
        value = await withTimeout(binding.get(key, "json"), readTimeoutMs, "KV read: no answer");
      } catch (error) {
        log("warn", "kv read failed; using the database", { key: redact(key), error: rootCauseMessage(error) });
        return null;
      }
      if (value === null) return null;
      const parsed = parse(value);
      if (parsed === null) log("warn", "kv entry malformed; ignoring it", { key: redact(key) });
      return parsed;
    },

    async put(key, value, ttlSeconds) {
      const expirationTtl = Math.max(KV_MIN_TTL_SECONDS, Math.floor(ttlSeconds));
      await withTimeout(
        binding.put(key, JSON.stringify(value), { expirationTtl }),
        writeTimeoutMs,
        "KV put: no answer",
      );
    },

    async delete(key) {
      await withTimeout(binding.delete(key), writeTimeoutMs, "KV delete: no answer");
    },
  };
}

/** Keys embed user ids and token hashes; logs keep only the kind. */
export function redact(key: string): string {
  return `${key.split(":")[0]}:…`;
}

/** The binding, reporting each call to the request's metrics (the seam where KV work is counted). */
export function instrumentKV(binding: KVNamespace, metrics: RequestMetrics): KVNamespace {
  const measured = {
    get: (key: string, options?: unknown) => metrics.timeKv(() => binding.get(key, options as "text")),
    getWithMetadata: (key: string, options?: unknown) =>
      metrics.timeKv(() => binding.getWithMetadata(key, options as "text")),
    put: (key: string, value: string, options?: KVNamespacePutOptions) =>
      metrics.timeKv(() => binding.put(key, value, options)),
    delete: (key: string) => metrics.timeKv(() => binding.delete(key)),
    list: (options?: KVNamespaceListOptions) => metrics.timeKv(() => binding.list(options)),
  };
  return measured as unknown as KVNamespace;
}
