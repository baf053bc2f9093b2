import type { User } from "../db/schema";
import type { RequestMetrics } from "../lib/metrics";
import type { KvCache } from "./kv-cache";
import type { MemoryCache } from "./memory-cache";
import type { Purger } from "./purger";

/** The cache tiers of one request, as the repository decorators (users.cache.ts, sessions.cache.ts) use them. */
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
