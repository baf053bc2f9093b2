import { z } from "@hono/zod-openapi";
import type { ClientErrorStatusCode } from "hono/utils/http-status";
import { problemKinds } from "../lib/errors";

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: "/problems/validation" }),
    title: z.string().openapi({ example: "Validation failed" }),
    status: z.number().int().openapi({ example: 400 }),
    detail: z.string().openapi({ example: "email: Invalid email address" }),
    instance: z.string().openapi({ example: "/api/users" }),
    requestId: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi("Problem", { description: "RFC 9457 problem details; `errors` only on validation failures." });

const byStatus = new Map<number, string>();
for (const kind of Object.values(problemKinds)) {
  const known = byStatus.get(kind.status);
  byStatus.set(kind.status, known ? `${known} Or: ${kind.description}` : kind.description);
}

/** A problem response entry, typed so that hono/client (AppType) narrows on its status. */
type ProblemEntry = { description: string; content: { "application/problem+json": { schema: typeof ProblemSchema } } };
type ProblemEntries<S extends number> = { [Status in S]: ProblemEntry };
/** What every /api route can answer: 413 and 415, 429 (the per-address limit), 500 and 503. */
type EveryApiRoute = 413 | 415 | 429 | 500 | 503;

/**
 * OpenAPI response entries for the problem statuses an /api route can answer with, plus what every
 * /api route can answer: 413 and 415 (a body that is too large or not JSON, on any method), 429
 * (the per-address limit), 500 and 503. The statuses stay literal types: a typed client sees each
 * documented problem as a response it can narrow on.
 */
export function problemResponses<const S extends readonly ClientErrorStatusCode[]>(
  ...statuses: S
): ProblemEntries<S[number] | EveryApiRoute> {
  return problemEntries([...statuses, 413, 415, 429, 500, 503]) as ProblemEntries<S[number] | EveryApiRoute>;
}

/** The same for routes outside /api (no body checks, no rate limit): the given statuses, 500 and 503. */
export function outsideApiProblemResponses<const S extends readonly ClientErrorStatusCode[]>(
  ...statuses: S
): ProblemEntries<S[number] | 500 | 503> {
  return problemEntries([...statuses, 500, 503]) as ProblemEntries<S[number] | 500 | 503>;
}

function problemEntries(statuses: number[]): Record<number, ProblemEntry> {
  return Object.fromEntries(
    [...new Set(statuses)].sort().map((status) => [
      status,
      {
        description: byStatus.get(status) ?? "Error",
        content: { "application/problem+json": { schema: ProblemSchema } },
      },
    ]),
  );
}

export const bearerSecurity = [{ bearerAuth: [] }];

export function jsonBody<T extends z.ZodType>(schema: T, description: string) {
  return { required: true, description, content: { "application/json": { schema } } } as const;
}

export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } } as const;
}

/** A 202: the request is taken and its work (mail) goes on after the answer. */
export function accepted<T extends z.ZodType>(schema: T) {
  return jsonResponse(schema, "Accepted: any mail goes out shortly, through a queue");
}

type HeaderRef = { $ref: string };
type DocumentResponses = Record<string, { headers?: Record<string, unknown> } & Record<string, unknown>>;
type Document = {
  paths?: Record<string, Record<string, { responses?: DocumentResponses }>>;
  components?: Record<string, unknown>;
};

const header = (name: string): HeaderRef => ({ $ref: `#/components/headers/${name}` });

const HEADERS = {
  RequestId: {
    description: "This request's id: in the log line, and in every problem body as `requestId`.",
    schema: { type: "string" },
  },
  RetryAfter: { description: "Seconds before a retry may succeed.", schema: { type: "integer", minimum: 0 } },
  RateLimitPolicy: {
    description: 'The limits that apply, e.g. `"signup-ip";q=5;w=60` (draft-ietf-httpapi-ratelimit-headers).',
    schema: { type: "string" },
  },
  RateLimit: {
    description: 'The limit that was hit and what is left: `"signup-ip";r=0;t=60`.',
    schema: { type: "string" },
  },
} as const;

/**
 * What the route definitions cannot say per route: every response carries `X-Request-Id`; a 429
 * carries `Retry-After`, `RateLimit` and `RateLimit-Policy`; a 503 carries `Retry-After`.
 */
export function withResponseHeaders<D extends object>(input: D): D {
  const document = input as Document;
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        response.headers = { ...response.headers, "X-Request-Id": header("RequestId") };
        if (status === "429") {
          Object.assign(response.headers, {
            "Retry-After": header("RetryAfter"),
            RateLimit: header("RateLimit"),
            "RateLimit-Policy": header("RateLimitPolicy"),
          });
        }
        if (status === "503") Object.assign(response.headers, { "Retry-After": header("RetryAfter") });
      }
    }
  }
  document.components = { ...document.components, headers: HEADERS };
  return input;
}
