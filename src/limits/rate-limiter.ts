import { rootCauseMessage } from "../lib/errors";
import { log } from "../lib/log";
import { withTimeout } from "../lib/timeout";
import { RateLimitedError, type RateLimitPolicy } from "./policies";

/** Checks one request against one policy; throws RateLimitedError (429) when over the limit. */
export type RateLimiter = { enforce(policy: RateLimitPolicy, key: string): Promise<void> };

const LIMITER_TIMEOUT_MS = 500;

/**
 * Over the Workers Rate Limiting bindings. A limiter that fails or does not answer lets the
 * request through (and logs it): refusing every sign-in because the limiter is down would turn
 * its outage into ours, and password hashing still bounds a brute force.
 */
export function createRateLimiter(bindings: Partial<Record<RateLimitPolicy["binding"], RateLimit>>): RateLimiter {
  return {
    async enforce(policy, key) {
      const binding = bindings[policy.binding];
      if (!binding) return;
      let outcome: RateLimitOutcome;
      try {
        outcome = await withTimeout(binding.limit({ key }), LIMITER_TIMEOUT_MS, "rate limiter: no answer");
      } catch (error) {
        log("warn", "rate limiter failed; letting the request through", {
          policy: policy.name,
          error: rootCauseMessage(error),
        });
        return;
      }
      if (!outcome.success) throw new RateLimitedError(policy);
    },
  };
}

/** Lets everything through: `npm start -- --no-rate-limits`, for requests to localhost only. */
export const noRateLimits: RateLimiter = { enforce: async () => {} };
