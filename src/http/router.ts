import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Actor } from "../authz/actor";
import type { AppConfig, Bindings } from "../config";
import type { RequestMetrics } from "../lib/metrics";
import { validationErrorFrom } from "./problem";

/** What the app puts on every request's context before a route runs (src/app.ts). */
export type AppVariables<Services> = {
  requestId: string;
  metrics: RequestMetrics;
  config: AppConfig;
  /** This request's services, built on first use (src/composition.ts). */
  services: Services;
  /** The authenticated caller, or null for an anonymous request. */
  actor: Actor | null;
  /** Set by onError for a 5xx, for the request's log line. */
  failure: { error: unknown; message: string; unexpected: boolean } | undefined;
  /** A security event the request was (a reset asked for, an email verified), for Analytics Engine. */
  securityEvent: string | undefined;
};

/**
 * The Hono env of the app and of every router. `Services` names the services a router's handlers
 * use, so a feature depends on its own services, never on the composition root that builds them
 * all; the app is typed with the whole set.
 */
export type AppEnv<Services = unknown> = { Bindings: Bindings; Variables: AppVariables<Services> };

// A missing field reads "Required" rather than zod's "expected string, received undefined".
z.config({
  customError: (issue) => (issue.code === "invalid_type" && issue.input === undefined ? "Required" : undefined),
});

/** Every router validates through the same hook, so every validation failure is the same 400 problem. */
export function createRouter<Services = unknown>() {
  return new OpenAPIHono<AppEnv<Services>>({
    defaultHook: (result) => {
      if (!result.success) throw validationErrorFrom(result.error);
    },
  });
}
