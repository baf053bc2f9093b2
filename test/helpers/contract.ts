/**
 * Every response a workerd test receives is checked against the OpenAPI document's own route
 * definitions (the zod schemas the document is generated from): the status must be documented for
 * the route, a JSON body must match the documented schema for that status and media type, and the
 * documented headers every response carries must be there. So the document cannot drift from what
 * the service sends without a test failing.
 */
import type { ZodType } from "zod";
import { createApp } from "../../src/app";
import { d1Backend } from "../../src/db/d1";

type Documented = {
  method: string;
  pattern: RegExp;
  responses: Record<string, { content?: Record<string, { schema: ZodType }> }>;
};

let routes: Documented[] | undefined;

function documentedRoutes(): Documented[] {
  if (!routes) {
    const definitions = createApp(d1Backend).openAPIRegistry.definitions;
    routes = definitions.flatMap((definition) => {
      if (definition.type !== "route") return [];
      const { method, path, responses } = definition.route;
      const pattern = new RegExp(`^${path.replace(/[.]/g, "\\.").replace(/\{[^}]+\}/g, "[^/]+")}$`);
      return [{ method: method.toUpperCase(), pattern, responses: responses as Documented["responses"] }];
    });
  }
  return routes;
}

// Outside the document by design: the document itself, the reference page and its assets.
const UNDOCUMENTED = [/^\/openapi\.json$/, /^\/docs(\/|$)/];

/** Throws, naming the route and what differs, when `response` is not what the document says. */
export async function checkAgainstDocument(
  request: { method: string; url: string },
  response: Response,
): Promise<void> {
  const { pathname } = new URL(request.url);
  // CORS preflights are answered before any route (src/middleware/edge-security.ts).
  if (request.method === "OPTIONS" || UNDOCUMENTED.some((pattern) => pattern.test(pathname))) return;
  const where = `${request.method} ${pathname} → ${response.status}`;
  if (!response.headers.get("X-Request-Id")) throw new Error(`${where}: no X-Request-Id header`);
  const method = request.method === "HEAD" ? "GET" : request.method;
  const candidates = documentedRoutes().filter((route) => route.pattern.test(pathname));
  const route = candidates.find((candidate) => candidate.method === method);
  if (!route) {
    // No such route: a 404 problem, or a 405 when the path exists with other methods.
    const expected = candidates.length > 0 ? [405, 429, 500, 503] : [404, 429, 500, 503];
    if (!expected.includes(response.status)) throw new Error(`${where}: an undocumented route answered`);
    return;
  }
  const documented = route.responses[String(response.status)] ?? route.responses.default;
  if (!documented) {
    throw new Error(`${where}: status not in the document (${Object.keys(route.responses).join(", ")})`);
  }
  const mediaType = (response.headers.get("Content-Type") ?? "").split(";")[0]?.trim() ?? "";
  const text = request.method === "HEAD" ? "" : await response.clone().text();
  if (text === "") return;
  const schema = documented.content?.[mediaType]?.schema;
  if (!schema) {
    const types = Object.keys(documented.content ?? {}).join(", ") || "no body";
    throw new Error(`${where}: ${mediaType || "a body"} is not documented (${types})`);
  }
  if (!mediaType.endsWith("json")) return;
  const result = schema.safeParse(JSON.parse(text));
  if (!result.success) {
    const issues = result.error.issues.map((issue) => `${issue.path.join(".") || "(body)"}: ${issue.message}`);
    throw new Error(`${where}: the body does not match the document: ${issues.join("; ")}`);
  }
}
