import { createRoute } from "@hono/zod-openapi";
import { bearerSecurity, jsonBody, jsonResponse, problemResponses } from "../http/openapi";
import { createRouter } from "../http/router";
import { rateLimitPolicies } from "../limits/policies";
import { requireAuth } from "../middleware/authenticate";
import { clientAddress, rateLimit } from "../middleware/rate-limit";
import { toUserView, UserIdParamsSchema, UserSchema, userRepresentationHeaders } from "../users/users.schemas";
import {
  AccessTokenSchema,
  LoginBodySchema,
  SessionIdParamsSchema,
  SessionListSchema,
  SignInSchema,
} from "./auth.schemas";
import type { AuthService, SessionView } from "./auth.service";

const tags = ["Auth"];

function toSessionView(session: SessionView) {
  return {
    id: session.id,
    createdAt: session.createdAt.toISOString(),
    expiresAt: session.expiresAt.toISOString(),
    current: session.current,
    userAgent: session.userAgent,
  };
}

const login = createRoute({
  operationId: "login",
  security: [],
  method: "post",
  path: "/login",
  tags,
  summary: "Sign in",
  description:
    "Exchanges email and password for a session token (opaque, 7 days by default) and a short-lived access token (a signed JWT). A wrong email, a wrong password and a disabled account all give the same 401, after the same work. With REQUIRE_EMAIL_VERIFICATION on, a right password for an unverified address is a 403 `/problems/email-not-verified`, and a fresh verification link is mailed.",
  middleware: [rateLimit(rateLimitPolicies.loginPerClient, clientAddress)] as const,
  request: { body: jsonBody(LoginBodySchema, "Credentials") },
  responses: { 200: jsonResponse(SignInSchema, "A new session"), ...problemResponses(400, 401, 403, 413, 415, 429) },
});

const logout = createRoute({
  operationId: "logout",
  method: "post",
  path: "/logout",
  tags,
  summary: "Sign out",
  description: "Revokes the session whose token (session token or access token) is presented.",
  middleware: [requireAuth()] as const,
  security: bearerSecurity,
  responses: { 204: { description: "Signed out" }, ...problemResponses(401) },
});

const me = createRoute({
  operationId: "getMe",
  method: "get",
  path: "/me",
  tags,
  summary: "The caller's own user",
  description:
    "With an access token, the token is trusted without a session lookup until it expires; the user is read through the edge cache.",
  middleware: [requireAuth()] as const,
  security: bearerSecurity,
  responses: { 200: jsonResponse(UserSchema, "The caller"), ...problemResponses(401) },
});

const token = createRoute({
  operationId: "issueAccessToken",
  method: "post",
  path: "/token",
  tags,
  summary: "A fresh access token",
  description:
    "For the caller's session, which must be live (checked in the database). Takes the session token; an access token is a 401.",
  middleware: [requireAuth()] as const,
  security: bearerSecurity,
  responses: { 200: jsonResponse(AccessTokenSchema, "A new access token"), ...problemResponses(401) },
});

const listSessions = createRoute({
  operationId: "listSessions",
  method: "get",
  path: "/sessions",
  tags,
  summary: "The caller's sessions",
  description:
    "Live sessions of the caller, newest first (at most 100), the current one marked; the user agent is the one recorded at sign-in.",
  middleware: [requireAuth()] as const,
  security: bearerSecurity,
  responses: { 200: jsonResponse(SessionListSchema, "Live sessions, newest first"), ...problemResponses(401) },
});

const revokeSession = createRoute({
  operationId: "revokeSession",
  method: "delete",
  path: "/sessions/{id}",
  tags,
  summary: "Revoke one of the caller's sessions",
  description: "Another user's session, or none, is a 404. Revoking the current session signs out.",
  middleware: [requireAuth()] as const,
  security: bearerSecurity,
  request: { params: SessionIdParamsSchema },
  responses: { 204: { description: "Revoked" }, ...problemResponses(401, 404) },
});

const revokeOtherSessions = createRoute({
  operationId: "revokeOtherSessions",
  method: "delete",
  path: "/sessions",
  tags,
  summary: "Sign out everywhere else",
  description: "Revokes every session of the caller but the current one.",
  middleware: [requireAuth()] as const,
  security: bearerSecurity,
  responses: { 204: { description: "Every other session is revoked" }, ...problemResponses(401) },
});

export const authRouter = createRouter<{ auth: AuthService }>()
  .openapi(login, async (c) => {
    const { email, password } = c.req.valid("json");
    const session = await c.get("services").auth.login(email, password, { userAgent: c.req.header("User-Agent") });
    return c.json(
      {
        token: session.token,
        expiresAt: session.expiresAt.toISOString(),
        accessToken: session.accessToken.token,
        accessTokenExpiresAt: session.accessToken.expiresAt.toISOString(),
        user: toUserView(session.user),
      },
      200,
    );
  })
  .openapi(logout, async (c) => {
    await c.get("services").auth.logout(c.get("actor"));
    return c.body(null, 204);
  })
  .openapi(me, async (c) => {
    const user = await c.get("services").auth.me(c.get("actor"));
    return c.json(
      toUserView(user),
      200,
      userRepresentationHeaders(user, "full", c.get("config").publicCacheTtlSeconds),
    );
  })
  .openapi(token, async (c) => {
    const issued = await c.get("services").auth.issueAccessToken(c.get("actor"));
    return c.json({ accessToken: issued.token, tokenType: "Bearer" as const, expiresIn: issued.expiresInSeconds }, 200);
  })
  .openapi(listSessions, async (c) => {
    const sessions = await c.get("services").auth.listSessions(c.get("actor"));
    return c.json(
      {
        data: sessions.map(toSessionView),
      },
      200,
    );
  })
  .openapi(revokeSession, async (c) => {
    await c.get("services").auth.revokeSession(c.get("actor"), c.req.valid("param").id);
    return c.body(null, 204);
  })
  .openapi(revokeOtherSessions, async (c) => {
    await c.get("services").auth.revokeOtherSessions(c.get("actor"));
    return c.body(null, 204);
  });

const listUserSessions = createRoute({
  operationId: "listUserSessions",
  method: "get",
  path: "/{id}/sessions",
  tags: ["Users"],
  summary: "A user's sessions (admins)",
  description: "The user's live sessions, newest first (at most 100). Admins only; an unknown user is a 404.",
  middleware: [requireAuth()] as const,
  security: bearerSecurity,
  request: { params: UserIdParamsSchema },
  responses: {
    200: jsonResponse(SessionListSchema, "Live sessions, newest first"),
    ...problemResponses(401, 403, 404),
  },
});

const revokeUserSessions = createRoute({
  operationId: "revokeUserSessions",
  method: "delete",
  path: "/{id}/sessions",
  tags: ["Users"],
  summary: "Sign a user out everywhere (admins)",
  description:
    "Revokes every session of the user (an admin's own current session excepted). Admins only; an unknown user is a 404.",
  middleware: [requireAuth()] as const,
  security: bearerSecurity,
  request: { params: UserIdParamsSchema },
  responses: { 204: { description: "Every session of the user is revoked" }, ...problemResponses(401, 403, 404) },
});

/** An admin's view of another user's sessions, under /api/users/{id}/sessions. */
export const userSessionsRouter = createRouter<{ auth: AuthService }>()
  .openapi(listUserSessions, async (c) => {
    const sessions = await c.get("services").auth.listUserSessions(c.get("actor"), c.req.valid("param").id);
    return c.json({ data: sessions.map(toSessionView) }, 200);
  })
  .openapi(revokeUserSessions, async (c) => {
    await c.get("services").auth.revokeUserSessions(c.get("actor"), c.req.valid("param").id);
    return c.body(null, 204);
  });
