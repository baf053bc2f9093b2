import { z } from "@hono/zod-openapi";
import { problemKinds } from "../lib/errors";

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: "/problems/validation" }),
    title: z.string().openapi({ example: "Validation failed" }),
    status: z.number().int().openapi({ example: 400 }),
    detail: z.string().optional(),
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

/** OpenAPI response entries for the problem statuses a route can answer with (plus 500 and 503). */
export function problemResponses(...statuses: number[]) {
  return Object.fromEntries(
    [...statuses, 429, 500, 503].map((status) => [
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
