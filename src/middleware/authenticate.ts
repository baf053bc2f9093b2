import { createMiddleware } from "hono/factory";
import type { Actor } from "../auth/actor";
import type { AppEnv } from "../env";
import { UnauthorizedError } from "../lib/errors";

const BEARER = /^Bearer +([^\s]+) *$/i;

async function resolveActor(c: { req: { header(name: string): string | undefined }; var: AppEnv["Variables"] }) {
  const header = c.req.header("Authorization");
  if (header === undefined) return null;
  const token = BEARER.exec(header)?.[1];
  if (!token) throw new UnauthorizedError("Send credentials as `Authorization: Bearer <token>`.");
  return c.var.services.auth.authenticate(token);
}

/** The caller must present a valid bearer token (401 otherwise); `c.var.actor` is then set. */
export function requireAuth() {
  return createMiddleware<AppEnv & { Variables: { actor: Actor } }>(async function requireAuth(c, next) {
    const actor = await resolveActor(c);
    if (!actor) throw new UnauthorizedError();
    c.set("actor", actor);
    await next();
  });
}

/** Anonymous callers are welcome (`actor` null), but a token that is sent must be valid (401 otherwise). */
export function optionalAuth() {
  return createMiddleware<AppEnv>(async function optionalAuth(c, next) {
    c.set("actor", await resolveActor(c));
    await next();
  });
}
