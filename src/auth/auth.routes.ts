import { createRoute } from "@hono/zod-openapi";
import { bearerSecurity, jsonBody, jsonResponse, problemResponses } from "../http/openapi";
import { createRouter } from "../http/router";
import { rateLimitPolicies } from "../limits/policies";
import { requireAuth } from "../middleware/authenticate";
import { clientAddress, rateLimit } from "../middleware/rate-limit";
import { toUserView, UserSchema, userRepresentationHeaders } from "../users/users.schemas";
import { LoginBodySchema, SessionSchema } from "./auth.schemas";
import type { AuthService } from "./auth.service";

const tags = ["Auth"];

const login = createRoute({
  method: "post",
  path: "/login",
  tags,
  summary: "Sign in",
  description:
    "Exchanges email and password for a bearer token. A wrong email, a wrong password and a disabled account all give the same 401, after the same work. With REQUIRE_EMAIL_VERIFICATION on, a right password for an unverified address is a 403 `/problems/email-not-verified`, and a fresh verification link is mailed.",
  middleware: [rateLimit(rateLimitPolicies.loginPerClient, clientAddress)] as const,
  request: { body: jsonBody(LoginBodySchema, "Credentials") },
  responses: { 200: jsonResponse(SessionSchema, "A new session"), ...problemResponses(400, 401, 403, 413, 415, 429) },
});

const logout = createRoute({
  method: "post",
  path: "/logout",
  tags,
  summary: "Sign out",
  description: "Revokes the session whose token is presented.",
  middleware: [requireAuth()] as const,
  security: bearerSecurity,
  responses: { 204: { description: "Signed out" }, ...problemResponses(401) },
});

const me = createRoute({
  method: "get",
  path: "/me",
  tags,
  summary: "The caller's own user",
  middleware: [requireAuth()] as const,
  security: bearerSecurity,
  responses: { 200: jsonResponse(UserSchema, "The caller"), ...problemResponses(401) },
});

export const authRouter = createRouter<{ auth: AuthService }>()
  .openapi(login, async (c) => {
    const { email, password } = c.req.valid("json");
    const session = await c.get("services").auth.login(email, password);
    return c.json(
      { token: session.token, expiresAt: session.expiresAt.toISOString(), user: toUserView(session.user) },
      200,
    );
  })
  .openapi(logout, async (c) => {
    await c.get("services").auth.logout(c.get("actor"));
    return c.body(null, 204);
  })
  .openapi(me, (c) => {
    const { user } = c.get("actor");
    return c.json(
      toUserView(user),
      200,
      userRepresentationHeaders(user, "full", c.get("config").publicCacheTtlSeconds),
    );
  });
