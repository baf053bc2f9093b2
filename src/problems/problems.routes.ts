import { createRoute, z } from "@hono/zod-openapi";
import { jsonResponse, outsideApiProblemResponses } from "../http/openapi";
import { createRouter } from "../http/router";
import { NotFoundError, problemKinds } from "../lib/errors";

const ProblemKindSchema = z
  .object({ type: z.string(), title: z.string(), status: z.number().int(), description: z.string() })
  .openapi("ProblemType");

const describeProblem = createRoute({
  operationId: "getProblemType",
  security: [],
  method: "get",
  path: "/{name}",
  tags: ["Reference"],
  summary: "Describe a problem type",
  description: "Makes each problem `type` URI resolvable to what it means.",
  request: {
    params: z.object({
      name: z
        .string()
        .max(64)
        .openapi({ param: { name: "name", in: "path" }, example: "validation" }),
    }),
  },
  responses: { 200: jsonResponse(ProblemKindSchema, "The problem type"), ...outsideApiProblemResponses(404) },
});

export const problemsRouter = createRouter().openapi(describeProblem, (c) => {
  const type = `/problems/${c.req.valid("param").name}`;
  const kind = Object.values(problemKinds).find((candidate) => candidate.type === type);
  if (!kind) throw new NotFoundError("No such problem type.");
  c.header("Cache-Control", "public, max-age=86400");
  return c.json(kind, 200);
});
