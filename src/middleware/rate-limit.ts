import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { can } from "../authz/policy";
import type { AppEnv } from "../http/router";
import { clientAddressKey } from "../lib/client-address";
import { policyHeader, type RateLimitPolicy } from "../limits/policies";
import type { RateLimiter } from "../limits/rate-limiter";

type LimitedEnv = AppEnv<{ limiter: RateLimiter }>;
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

/** Sign-ups by admins are not throttled per address; everyone else's are. Runs after auth. */
export function unlessAdmin(c: Context<LimitedEnv>): string | null {
  return can(c.get("actor"), "users:administer") ? null : clientAddress(c);
}
