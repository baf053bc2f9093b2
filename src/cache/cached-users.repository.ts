import { rootCauseMessage } from "../db/errors";
import { log } from "../lib/log";
import type { RequestMetrics } from "../lib/metrics";
import type { User } from "../users/users.model";
import type { UsersRepository } from "../users/users.repository";
import { parseCachedUser, toCachedUser } from "./entries";
import { cacheKeys } from "./keys";
import { type KvCache, redact } from "./kv-cache";
import type { MemoryCache } from "./memory-cache";
import type { Purger } from "./purger";

export type CacheTiers = {
  memory: MemoryCache<User>;
  kv: KvCache;
  purger: Purger;
  metrics: RequestMetrics;
  /** Runs work after the response (ctx.waitUntil). */
  defer: (task: Promise<unknown>) => void;
  kvTtlSeconds: number;
  /**
   * A read fills memory or KV only if its database read began less than this long ago. The
   * purger's second purge comes later than this window, and the cron's third later still, so a
   * fill from a read that raced a write cannot outlive them.
   */
  fillWindowMs: number;
};

/**
 * Users by id through three tiers: this isolate's memory (only for reads that accept a copy a few
 * seconds old), then KV, then the database. Writes go to the database, then purge what they made
 * stale (recorded in the same batch, so a purge that fails now happens later). Everything else
 * passes straight through; nothing with a password hash is ever cached.
 */
export function createCachedUsersRepository(base: UsersRepository, tiers: CacheTiers): UsersRepository {
  const { memory, kv, purger, metrics } = tiers;

  return {
    ...base,

    async findById(id, options = {}) {
      const key = cacheKeys.user(id);
      if (options.allowStale) {
        const remembered = memory.get(key);
        if (remembered) {
          metrics.recordCache("hit-memory");
          return remembered;
        }
      }
      const cached = await kv.get(key, parseCachedUser);
      if (cached) {
        metrics.recordCache("hit-kv");
        memory.set(key, cached);
        return cached;
      }
      metrics.recordCache("miss");
      const readStartedAt = Date.now();
      const user = await base.findById(id);
      if (user && Date.now() - readStartedAt <= tiers.fillWindowMs) {
        memory.set(key, user);
        fill(tiers, key, toCachedUser(user), tiers.kvTtlSeconds, readStartedAt);
      }
      return user;
    },

    async update(id, changes, options) {
      const result = await base.update(id, changes, options);
      await purger.purge(result.staleKeys);
      return result;
    },

    async deleteUnlessLastActiveAdmin(id, options) {
      const result = await base.deleteUnlessLastActiveAdmin(id, options);
      await purger.purge(result.staleKeys);
      return result;
    },
  };
}

/** Puts a value read from the database into KV after the response, unless the read is too old. */
export function fill(tiers: CacheTiers, key: string, value: unknown, ttlSeconds: number, readStartedAt: number) {
  tiers.defer(
    (async () => {
      if (Date.now() - readStartedAt > tiers.fillWindowMs) return;
      await tiers.kv.put(key, value, ttlSeconds);
      log("debug", "cache filled", { key: redact(key), ttlSeconds });
    })().catch((error) => {
      // A missed fill only costs a database read later.
      log("warn", "kv fill failed", { key: redact(key), error: rootCauseMessage(error) });
    }),
  );
}
