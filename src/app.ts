import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import { requestId } from "hono/request-id";
import { accountsRouter } from "./accounts/accounts.routes";
import { auditEventsRouter, ownEventsRouter } from "./audit/audit.routes";
import { authRouter, userSessionsRouter } from "./auth/auth.routes";
import { createServices, type Services } from "./composition";
import { isLoopbackHost, readConfig } from "./config";
import type { DatabaseBackend } from "./db/backend";
import { docsRouter } from "./docs/docs.routes";
import { healthRouter } from "./health/health.routes";
import { withResponseHeaders } from "./http/openapi";
import { MAX_BODY_BYTES, problemResponse, toAppError } from "./http/problem";
import { type AppEnv, createRouter } from "./http/router";
import { clientIp } from "./lib/client-address";
import {
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  problemKinds,
  rootCauseMessage,
} from "./lib/errors";
import { cleanUserAgent } from "./lib/user-agent";
import { rateLimitPolicies } from "./limits/policies";
import { corsFromConfig, securityHeaders } from "./middleware/edge-security";
import { requireJsonBodies, requireUtf8Bodies } from "./middleware/json-body";
import { clientAddress, rateLimit } from "./middleware/rate-limit";
import { serverTiming } from "./middleware/server-timing";
import { observeRequests } from "./observability/observe-requests";
import { problemsRouter } from "./problems/problems.routes";
import { tokensRouter } from "./tokens/tokens.routes";
import { usersRouter } from "./users/users.routes";
import { webhooksRouter } from "./webhooks/webhooks.routes";

const API_DESCRIPTION = `Users, sign-in and sessions at the edge.

Authenticate with \`Authorization: Bearer <token>\`: the session token or the access token (a signed JWT, verifiable with \`/.well-known/jwks.json\`) from \`POST /api/auth/login\`.
Request bodies are JSON (\`Content-Type: application/json\`), at most 64 KiB, and strict: unknown fields are rejected.
Every response carries \`X-Request-Id\` and \`Server-Timing\`.

## Problem types
Every 4xx and 5xx body is RFC 9457 \`application/problem+json\`. Its \`type\` is one of:

| type | status | meaning |
|---|---|---|
${Object.values(problemKinds)
  .map((kind) => `| \`${kind.type}\` | ${kind.status} | ${kind.description} |`)
  .join("\n")}
`;

/** The app over one database backend (the entry point's choice: D1, or libSQL). */
export function createApp(backend: DatabaseBackend) {
  const app = createRouter<Services>();

  app.use(requestId());
  app.use(observeRequests());
  app.use(securityHeaders());
  app.use(corsFromConfig());
  app.use(serverTiming());
  app.use(async function defaultCacheControl(c, next) {
    await next();
    if (!c.res.headers.has("Cache-Control")) c.res.headers.set("Cache-Control", "no-store");
  });
  app.use("/api/*", requireJsonBodies());
  app.use(
    "/api/*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new PayloadTooLargeError(MAX_BODY_BYTES);
      },
    }),
  );
  app.use(provideServices(backend));
  app.use("/api/*", rateLimit(rateLimitPolicies.api, clientAddress));
  app.use("/api/*", requireUtf8Bodies());

  // One chain, so that the returned app's type carries every route (AppType, for hono/client).
  const routed = app
    .route("/", healthRouter)
    .route("/problems", problemsRouter)
    .route("/api/users", usersRouter)
    .route("/api/users", userSessionsRouter)
    .route("/api/auth", authRouter)
    .route("/api/auth", ownEventsRouter)
    .route("/api/audit-events", auditEventsRouter)
    .route("/api", accountsRouter)
    .route("/", tokensRouter)
    .route("/api/webhooks", webhooksRouter);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    description:
      "A session token from `POST /api/auth/login`, or an access token (a signed JWT) from the same answer or from `POST /api/auth/token`.",
  });
  let document: ReturnType<typeof apiDocument> | undefined;
  app.get("/openapi.json", (c) => {
    document ??= apiDocument(app, c.get("config").tokenIssuer);
    return c.json(document);
  });
  app.route("/", docsRouter);

  const allowedMethods = methodIndex(app.routes);

  app.notFound((c) => {
    const allowed = allowedMethods(c.req.path);
    return problemResponse(c, allowed.length > 0 ? new MethodNotAllowedError(allowed) : new NotFoundError());
  });

  app.onError((error, c) => {
    const problem = toAppError(error);
    if (problem.status >= 500) {
      // For the request's log line. A 5xx we raised on purpose (e.g. /ready's 503) is news, not a
      // crash: it gets no stack.
      const cause = problem.cause ?? error;
      c.set("failure", { error: cause, message: rootCauseMessage(cause), unexpected: problem !== error });
    }
    return problemResponse(c, problem);
  });

  return routed;
}

/**
 * The API's routes as a type, for a typed client with `hono/client`:
 * `hc<AppType>("https://users.example.com")` (docs/clients.md).
 */
export type AppType = ReturnType<typeof createApp>;

/** Puts the checked configuration and this request's service graph (src/composition.ts) on the context. */
function provideServices(backend: DatabaseBackend) {
  return createMiddleware<AppEnv<Services>>(async function provideServices(c, next) {
    const config = readConfig(c.env);
    c.set("config", config);
    const scope = {
      backend,
      env: c.env,
      config,
      metrics: c.get("metrics"),
      defer: deferrer(c),
      loopbackRequest: config.rateLimitsOff && isLoopbackHost(new URL(c.req.url).hostname),
      request: {
        ip: clientIp(c.req.header("CF-Connecting-IP")),
        userAgent: cleanUserAgent(c.req.header("User-Agent")),
        requestId: c.get("requestId"),
      },
    };
    c.set("services", createServices(scope));
    c.set("actor", null);
    await next();
  });
}

// ctx.waitUntil where there is an execution context; otherwise the task just runs unawaited.
function deferrer(c: Context): (task: Promise<unknown>) => void {
  try {
    const ctx = c.executionCtx;
    return (task) => ctx.waitUntil(task);
  } catch {
    return (task) => void task;
  }
}

// For a 405 instead of a 404: which methods the app serves on a path, from its own route table.
function methodIndex(routes: readonly { method: string; path: string }[]) {
  let table: { pattern: RegExp; method: string }[] | undefined;
  return (path: string): string[] => {
    table ??= routes
      .filter((route) => route.method !== "ALL")
      .map((route) => ({
        method: route.method,
        pattern: new RegExp(`^${route.path.replace(/\/:[^/]+/g, "/[^/]+")}$`),
      }));
    const methods = new Set(table.filter((route) => route.pattern.test(path)).map((route) => route.method));
    if (methods.has("GET")) methods.add("HEAD");
    return [...methods].sort();
  };
}

/**
 * The OpenAPI 3.1 document of `app`, served at /openapi.json and written to docs/openapi.json by
 * `npm run openapi`. `serverUrl`: this API's public origin (TOKEN_ISSUER) when served; "/" (the origin
 * the document was fetched from) in the committed file.
 */
export function apiDocument(app: Pick<OpenAPIHono, "getOpenAPI31Document">, serverUrl: string) {
  return withResponseHeaders(
    app.getOpenAPI31Document({
      openapi: "3.1.0",
      info: {
        title: "edge-users",
        version: "1.1.0",
        description: API_DESCRIPTION,
        license: { name: "MIT", url: "https://opensource.org/license/mit" },
        contact: { name: "edge-users maintainers" },
      },
      servers: [{ url: serverUrl, description: "This API's origin" }],
      tags: [
        { name: "Users", description: "Accounts and profiles" },
        { name: "Auth", description: "Sign-in and sessions" },
        { name: "Account", description: "Email verification and password reset, by links mailed to the account" },
        { name: "Tokens", description: "The keys other services verify access tokens with" },
        { name: "Webhooks", description: "Signed deliveries of security events to other services (admins)" },
        { name: "Audit", description: "Security events: who did what to which account" },
        { name: "Health", description: "Liveness and readiness" },
        { name: "Reference", description: "What problem types mean" },
      ],
    }),
  );
}
