import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../http/router";
import { RequestMetrics } from "../lib/metrics";

/**
 * Gives each request a RequestMetrics and reports it in one Server-Timing header:
 * `cache;desc="hit-memory|hit-kv|miss|none"`, `db` and `kv` with their time and call count when
 * the request touched them, and `total`. (One middleware and one header write per request: this is
 * on every request's path, the cached read's included.)
 */
export function serverTiming() {
  return createMiddleware<AppEnv>(async function serverTiming(c, next) {
    const started = performance.now();
    const metrics = new RequestMetrics();
    c.set("metrics", metrics);
    await next();
    let header = `cache;desc="${metrics.cache ?? "none"}"`;
    if (metrics.dbQueries > 0) {
      header += `,db;dur=${metrics.dbMs.toFixed(1)};desc="${count(metrics.dbQueries, "query", "queries")}"`;
    }
    if (metrics.kvOperations > 0) {
      header += `,kv;dur=${metrics.kvMs.toFixed(1)};desc="${count(metrics.kvOperations, "operation", "operations")}"`;
    }
    c.res.headers.append(
      "Server-Timing",
      `${header},total;dur=${(performance.now() - started).toFixed(1)};desc="total"`,
    );
  });
}

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
