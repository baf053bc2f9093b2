import { rootCauseMessage } from "../lib/errors";
import { log } from "../lib/log";
import { type KvCache, redact } from "./kv-cache";
import type { MemoryCache } from "./memory-cache";
import type { StalePurgesRepository } from "./outbox";

/** Entries left in the outbox this long are purged by the cron. */
const DRAIN_AFTER_MS = 30_000;
const DRAIN_BATCH = 200;

export type Purger = {
  /**
   * Removes stale entries from this isolate's memory and from KV now (before the response, so the
   * next read in this location sees the write), and once more after `repurgeDelayMs`, removing any
   * entry a read that raced the write filled from the database. The keys stay in the outbox for
   * the cron, which purges them a third time and only then forgets them.
   */
  purge(keys: string[]): Promise<void>;
  /** Cron: purges every key recorded over DRAIN_AFTER_MS ago, then forgets it. Returns how many. */
  drain(now: Date): Promise<number>;
};

export type PurgerDeps = {
  kv: KvCache;
  memory: Pick<MemoryCache<unknown>, "delete">;
  outbox: StalePurgesRepository;
  /** Work after the response (ctx.waitUntil). */
  defer: (task: Promise<unknown>) => void;
  repurgeDelayMs: number;
};

export function createPurger({ kv, memory, outbox, defer, repurgeDelayMs }: PurgerDeps): Purger {
  // Deletes every key; returns those that were deleted (failures are logged and left for later).
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
      await remove(keys);
      log("debug", "cache purged", { keys: keys.map(redact), again: `in ${repurgeDelayMs} ms` });
      defer(
        (async () => {
          await new Promise((resolve) => setTimeout(resolve, repurgeDelayMs));
          await remove(keys);
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
