import { rootCauseMessage } from "../db/errors";
import type { StalePurgesRepository } from "../db/stale-purges";
import { log } from "../lib/log";
import { type KvCache, redact } from "./kv-cache";
import type { MemoryCache } from "./memory-cache";

/** Entries left in the outbox this long are purged by the cron. */
export const DRAIN_AFTER_MS = 30_000;
const DRAIN_BATCH = 200;

export type Purger = {
  /**
   * Removes stale entries from this isolate's memory and from KV now (before the response, so the
   * next read in this location sees the write), and once more after `repurgeDelayMs` to remove any
   * entry a concurrent read filled from the database just before the write; then forgets them.
   */
  purge(keys: string[]): Promise<void>;
  /** Cron: purges keys whose purge never completed (KV down, isolate gone). Returns how many. */
  drain(now: Date): Promise<number>;
};

export type PurgerDeps = {
  kv: KvCache;
  memory: Pick<MemoryCache<unknown>, "delete">;
  outbox: StalePurgesRepository;
  defer: (task: Promise<unknown>) => void;
  repurgeDelayMs: number;
};

export function createPurger({ kv, memory, outbox, defer, repurgeDelayMs }: PurgerDeps): Purger {
  /** Deletes every key; returns those that were deleted (failures are logged and left for later). */
  async function remove(keys: string[]): Promise<string[]> {
    const results = await Promise.allSettled(
      keys.map((key) => {
        memory.delete(key);
        return kv.delete(key);
      }),
    );
    return keys.filter((key, index) => {
      const result = results[index];
      if (result?.status === "fulfilled") return true;
      log("warn", "kv purge failed; the cron will retry", {
        key: redact(key),
        error: rootCauseMessage(result?.reason),
      });
      return false;
    });
  }

  return {
    async purge(keys) {
      if (keys.length === 0) return;
      const startedAt = new Date();
      await remove(keys);
      defer(
        (async () => {
          if (repurgeDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, repurgeDelayMs));
          await outbox.forget(await remove(keys), startedAt);
        })().catch((error) => log("warn", "deferred purge failed", { error: rootCauseMessage(error) })),
      );
    },

    async drain(now) {
      const cutoff = new Date(now.getTime() - DRAIN_AFTER_MS);
      const keys = await outbox.listRecordedBefore(cutoff, DRAIN_BATCH);
      const purged = await remove(keys);
      await outbox.forget(purged, cutoff);
      return purged.length;
    },
  };
}
