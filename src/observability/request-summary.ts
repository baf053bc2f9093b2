import type { Context } from "hono";
import { matchedRoutes } from "hono/route";
import type { AppEnv } from "../http/router";
import { AppError } from "../lib/errors";

/** What one finished request was and cost: the source of its log line and its data points. */
export type RequestSummary = {
  requestId: string;
  method: string;
  /** The route pattern (`/api/users/:id`), never the raw path with ids in it. */
  route: string;
  status: number;
  durationMs: number;
  cache: string;
  dbMs: number;
  dbQueries: number;
  kvMs: number;
  kvOperations: number;
  colo: string;
  country: string;
  /** The authenticated caller; empty when anonymous. */
  userId: string;
  clientIp: string;
  /** The security event the request's refusal named, if any (see AppError). */
  securityEvent: string | undefined;
  /** Checks that could not run and let the request through (e.g. `breach_check_unavailable`). */
  failedOpen: string[] | undefined;
};

export function summarize(c: Context<AppEnv>, durationMs: number): RequestSummary {
  const metrics = c.get("metrics");
  const cf = (c.req.raw as Request & { cf?: { colo?: string; country?: string } }).cf;
  return {
    requestId: c.get("requestId") ?? "",
    method: c.req.method,
    route: routePattern(c),
    status: c.res.status,
    durationMs: round(durationMs),
    cache: metrics?.cache ?? "none",
    dbMs: round(metrics?.dbMs ?? 0),
    dbQueries: metrics?.dbQueries ?? 0,
    kvMs: round(metrics?.kvMs ?? 0),
    kvOperations: metrics?.kvOperations ?? 0,
    colo: cf?.colo ?? "",
    country: cf?.country ?? "",
    userId: c.get("actor")?.user.id ?? "",
    clientIp: c.req.header("CF-Connecting-IP") ?? "",
    securityEvent: c.get("securityEvent") ?? (c.error instanceof AppError ? c.error.securityEvent : undefined),
    failedOpen: metrics?.failedOpen,
  };
}

// The handler's route (middleware match every path with method ALL); `unmatched` for a 404/405.
function routePattern(c: Context<AppEnv>): string {
  const handler = matchedRoutes(c).findLast((route) => route.method !== "ALL");
  return handler?.path ?? "unmatched";
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
