import { rootCauseMessage } from "../lib/errors";
import { log } from "../lib/log";
import type { RequestSummary } from "./request-summary";

/**
 * Workers Analytics Engine data points, one per request plus one per security event. The column
 * layout is a contract with the queries in scripts/lib/analytics-queries.ts and the docs; add new
 * columns at the end, never reorder.
 *
 * index1  the route pattern (requests) or `security:<event>`: what Analytics Engine samples by
 * blob1   event: request | login_failed | password_check_failed | forbidden | rate_limited |
 *         password_reset_requested | password_reset | verification_requested | email_verified |
 *         invalid_link_token | email_not_verified | breached_password | breach_check_unavailable
 *         (a new password let through unchecked: the range API did not answer in time)
 * blob2   method        blob3  route pattern      blob4  cache outcome (hit-memory|hit-kv|miss|none)
 * blob5   colo          blob6  country            blob7  request id
 * blob8   acting user id (empty when anonymous)
 * blob9   client IP, security events only (who is hammering sign-in)
 * double1 status        double2 duration ms       double3 D1 time ms
 * double4 D1 queries    double5 KV time ms        double6 KV operations
 */
/** A refusal that names its own event (AppError's securityEvent) adds to these. */
type SecurityEvent = "login_failed" | "forbidden" | "rate_limited" | (string & {});

export function requestDataPoint(summary: RequestSummary): AnalyticsEngineDataPoint {
  return dataPoint("request", summary.route, summary, "");
}

/** The security event a finished request represents, if any. */
export function securityEventOf(summary: RequestSummary): SecurityEvent | null {
  if (summary.securityEvent) return summary.securityEvent;
  if (summary.status === 401 && summary.route === "/api/auth/login") return "login_failed";
  if (summary.status === 403) return "forbidden";
  if (summary.status === 429) return "rate_limited";
  return null;
}

export function securityDataPoint(event: SecurityEvent, summary: RequestSummary): AnalyticsEngineDataPoint {
  return dataPoint(event, `security:${event}`, summary, summary.clientIp);
}

function dataPoint(event: string, index: string, s: RequestSummary, clientIp: string): AnalyticsEngineDataPoint {
  return {
    indexes: [index.slice(0, 96)],
    blobs: [event, s.method, s.route, s.cache, s.colo, s.country, s.requestId, s.userId, clientIp],
    doubles: [s.status, s.durationMs, s.dbMs, s.dbQueries, s.kvMs, s.kvOperations],
  };
}

/** Never fails or delays the request: writeDataPoint is fire-and-forget, and a throw is only logged. */
export function writeDataPoints(binding: AnalyticsEngineDataset | undefined, points: AnalyticsEngineDataPoint[]) {
  if (!binding) return;
  for (const point of points) {
    try {
      binding.writeDataPoint(point);
    } catch (error) {
      log("warn", "analytics data point not written", { error: rootCauseMessage(error) });
    }
  }
}
