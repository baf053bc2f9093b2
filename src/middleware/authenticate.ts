import { createMiddleware } from "hono/factory";
import type { Actor } from "../authz/actor";
import type { AppEnv } from "../http/router";
import { UnauthorizedError } from "../lib/errors";

/** Who checks a bearer token: the auth service (src/auth/auth.service.ts). */
export type Authenticator = {
  /** The actor behind a bearer token; throws 401 for a malformed, unknown, expired or revoked one. */
  authenticate(token: string): Promise<Actor>;
};

type AuthEnv = AppEnv<{ auth: Authenticator }>;

const BEARER = /^Bearer +([^\s]+) *$/i;

// The session behind an `Authorization` header; a header that is not a bearer token is a 401.
async function resolveActor(header: string, auth: Authenticator) {
  const token = BEARER.exec(header)?.[1];
  if (!token) throw new UnauthorizedError("Send credentials as `Authorization: Bearer <token>`.");
  return auth.authenticate(token);
}

/** The caller must present a valid bearer token (401 otherwise); `c.get("actor")` is then set. */
export function requireAuth() {
  return createMiddleware<AuthEnv & { Variables: { actor: Actor } }>(async function requireAuth(c, next) {
    const header = c.req.header("Authorization");
    if (header === undefined) throw new UnauthorizedError();
    c.set("actor", await resolveActor(header, c.get("services").auth));
    await next();
  });
}

/** Anonymous callers are welcome (`actor` null), but a token that is sent must be valid (401 otherwise). */
export function optionalAuth() {
  return createMiddleware<AuthEnv>(async function optionalAuth(c, next) {
    const header = c.req.header("Authorization");
    // Anonymous requests never touch the auth service (it is built on first use).
    if (header !== undefined) c.set("actor", await resolveActor(header, c.get("services").auth));
    await next();
  });
}
