import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env";
import { hashSessionToken } from "../lib/tokens";
import { policyHeader, type RateLimitPolicy } from "../limits/policies";

type KeyOf = (c: Context<AppEnv>) => string | null | Promise<string | null>;

/**
 * Applies one rate limit policy to the requests it keys (a null key: the policy does not apply).
 * Every response of a limited route names its policy in RateLimit-Policy; over the limit, 429.
 */
export function rateLimit(policy: RateLimitPolicy, keyOf: KeyOf) {
  return createMiddleware<AppEnv>(async function rateLimit(c, next) {
    const key = await keyOf(c);
    if (key === null) return next();
    c.header("RateLimit-Policy", policyHeader(policy), { append: true });
    await c.var.services.limiter.enforce(policy, key);
    await next();
  });
}

/** The client's address as Cloudflare saw it. */
export function clientAddress(c: Context): string {
  return c.req.header("CF-Connecting-IP") ?? "unknown";
}

/** Per bearer token when one is sent (a hash: the token itself never leaves), else per address. */
export async function callerKey(c: Context): Promise<string> {
  const token = /^Bearer +(\S+)/i.exec(c.req.header("Authorization") ?? "")?.[1];
  return token ? `token:${await hashSessionToken(token)}` : `ip:${clientAddress(c)}`;
}

/** Anonymous callers only: sign-ups by admins are not throttled per address. */
export function anonymousClientAddress(c: Context): string | null {
  return c.req.header("Authorization") === undefined ? clientAddress(c) : null;
}
