import { createRoute, z } from "@hono/zod-openapi";
import { jsonResponse, ProblemSchema } from "../http/openapi";
import { createRouter } from "../http/router";
import { problemKinds, ServiceUnavailableError } from "../lib/errors";
import type { ReadinessProbe } from "./health.service";

// A Worker whose configuration is invalid answers every request, these included, with a 500.
const serverErrorResponse = {
  500: {
    description: problemKinds.internal.description,
    content: { "application/problem+json": { schema: ProblemSchema } },
  },
};

const tags = ["Health"];

const CheckSchema = z.object({
  status: z.enum(["ok", "failed"]),
  durationMs: z.number(),
  error: z.enum(["error", "timeout"]).optional(),
});
const ChecksSchema = z.object({ database: CheckSchema, cache: CheckSchema });

const health = createRoute({
  operationId: "getHealth",
  security: [],
  method: "get",
  path: "/health",
  tags,
  summary: "Liveness",
  description: "Answers without touching any dependency.",
  responses: {
    200: jsonResponse(z.object({ status: z.literal("ok") }), "The Worker is running"),
    ...serverErrorResponse,
  },
});

const ready = createRoute({
  operationId: "getReadiness",
  security: [],
  method: "get",
  path: "/ready",
  tags,
  summary: "Readiness",
  description: "Checks the database and the cache binding; 503 names the failing check.",
  responses: {
    200: jsonResponse(z.object({ status: z.literal("ready"), checks: ChecksSchema }), "Every dependency answered"),
    503: {
      description: problemKinds.unavailable.description,
      content: { "application/problem+json": { schema: ProblemSchema.extend({ checks: ChecksSchema }) } },
    },
    ...serverErrorResponse,
  },
});

export const healthRouter = createRouter<{ readiness: ReadinessProbe }>()
  .openapi(health, (c) => c.json({ status: "ok" as const }, 200))
  .openapi(ready, async (c) => {
    const { ready, checks } = await c.get("services").readiness.check();
    c.header("Cache-Control", "no-store");
    if (ready) return c.json({ status: "ready" as const, checks }, 200);
    const failed = Object.entries(checks)
      .filter(([, check]) => check.status === "failed")
      .map(([name]) => name);
    throw new ServiceUnavailableError(`Not ready: ${failed.join(", ")} check failed.`, 10, { extensions: { checks } });
  });
