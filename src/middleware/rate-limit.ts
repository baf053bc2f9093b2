import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { Actor } from "../authz/actor";
import { can } from "../authz/policy";
import type { AppEnv } from "../http/router";
import { clientAddressKey } from "../lib/client-address";
import { policyHeader, type RateLimitPolicy } from "../limits/policies";
import type { RateLimiter } from "../limits/rate-limiter";

type LimitedEnv = AppEnv<{ limiter: RateLimiter }>;
/** Who can tell whether a caller is an admin now (the users service). */
type AdminCheck = { standsAsAdmin(actor: Actor | null): Promise<boolean> };
type AdminAwareEnv = AppEnv<{ limiter: RateLimiter; users: AdminCheck }>;
type KeyOf = (c: Context<LimitedEnv>) => string | null | Promise<string | null>;

/**
 * Applies one rate limit policy to the requests it keys (a null key: the policy does not apply).
 * A limited route names its policy in RateLimit-Policy; over the limit, 429 naming that policy.
 */
export function rateLimit(policy: RateLimitPolicy, keyOf: KeyOf) {
  return createMiddleware<LimitedEnv>(async function rateLimit(c, next) {
    const key = await keyOf(c);
    if (key === null) return next();
    c.header("RateLimit-Policy", policyHeader(policy), { append: true });
    await c.get("services").limiter.enforce(policy, key);
    await next();
  });
}

/** Per client address (an IPv6 /64). Tokens are not a key: any string can be sent as one. */
export function clientAddress(c: Context): string {
  return clientAddressKey(c.req.header("CF-Connecting-IP"));
}

/**
 * `policy` per client address, except for admins (sign-ups an admin makes). Runs after auth. The
 * exemption rests on the live session and the role in D1, never on a token's role claim: a demoted
 * or signed-out admin's access token is limited like anyone's.
 */
export function rateLimitUnlessAdmin(policy: RateLimitPolicy) {
  return createMiddleware<AdminAwareEnv>(async function rateLimitUnlessAdmin(c, next) {
    const actor = c.get("actor");
    if (can(actor, "users:administer") && (await c.get("services").users.standsAsAdmin(actor))) return next();
    c.header("RateLimit-Policy", policyHeader(policy), { append: true });
    await c.get("services").limiter.enforce(policy, clientAddress(c));
    await next();
  });
}
