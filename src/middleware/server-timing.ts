import { createMiddleware } from "hono/factory";
import { setMetric } from "hono/timing";
import type { AppEnv } from "../http/router";
import { RequestMetrics } from "../lib/metrics";

/**
 * Gives each request a RequestMetrics and reports it in Server-Timing (inside hono/timing, which
 * adds `total`): `cache;desc=hit-memory|hit-kv|miss|none`, and `db` / `kv` with their time and
 * call count when the request touched them.
 */
export function serverTimingMetrics() {
  return createMiddleware<AppEnv>(async function serverTimingMetrics(c, next) {
    const metrics = new RequestMetrics();
    c.set("metrics", metrics);
    await next();
    setMetric(c, "cache", metrics.cache ?? "none");
    if (metrics.dbQueries > 0)
      setMetric(c, "db", metrics.dbMs, `${metrics.dbQueries} ${plural(metrics.dbQueries, "query", "queries")}`);
    if (metrics.kvOperations > 0)
      setMetric(
        c,
        "kv",
        metrics.kvMs,
        `${metrics.kvOperations} ${plural(metrics.kvOperations, "operation", "operations")}`,
      );
  });
}

function plural(count: number, one: string, many: string): string {
  return count === 1 ? one : many;
}
