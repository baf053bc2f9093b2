import { createMiddleware } from "hono/factory";
import { readConfig } from "../config";
import type { AppEnv } from "../http/router";
import { rootCause } from "../lib/errors";
import { configureLogging, isLogged, type LogLevel, log } from "../lib/log";
import { requestDataPoint, securityDataPoint, securityEventOf, writeDataPoints } from "./analytics";
import { summarize } from "./request-summary";

/**
 * One structured log line and one Analytics Engine data point per request (plus one per security
 * event), written after the response is built. A 5xx line carries the error and, for unexpected
 * errors, the stack of its root cause; the response never does.
 */
export function observeRequests() {
  return createMiddleware<AppEnv>(async function observeRequests(c, next) {
    const started = performance.now();
    let pretty = false;
    try {
      const config = readConfig(c.env);
      configureLogging(config.logLevel, config.logFormat);
      pretty = config.logFormat === "pretty";
    } catch {
      // A broken configuration is reported by the request itself (500); log with the defaults.
    }
    await next();

    const summary = summarize(c, performance.now() - started);
    const failure = c.get("failure");
    const level: LogLevel = summary.status >= 500 ? "error" : summary.status >= 400 ? "warn" : "info";
    if (isLogged(level)) {
      const root = failure?.unexpected ? rootCause(failure.error) : undefined;
      const { clientIp: _clientIp, ...fields } = summary;
      log(level, "request", {
        ...fields,
        error: failure?.message,
        stack: root instanceof Error ? root.stack : undefined,
      });
    }

    const points = [requestDataPoint(summary)];
    const event = securityEventOf(summary);
    if (event) points.push(securityDataPoint(event, summary));
    for (const failOpen of summary.failedOpen ?? []) points.push(securityDataPoint(failOpen, summary));
    writeDataPoints(c.env.ANALYTICS, points);
    // Under `wrangler dev` the local binding keeps nothing visible: show what production would record.
    if (pretty) for (const point of points) log("info", "  ↳ analytics", { ...point });
  });
}
