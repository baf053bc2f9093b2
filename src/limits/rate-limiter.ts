import { rootCauseMessage } from "../db/errors";
import { RateLimitedError } from "../lib/errors";
import { log } from "../lib/log";
import type { RateLimitPolicy } from "./policies";

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
      let outcome: RateLimitOutcome | "timeout";
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const timeout = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), LIMITER_TIMEOUT_MS);
        });
        outcome = await Promise.race([binding.limit({ key }), timeout]);
      } catch (error) {
        log("warn", "rate limiter failed; letting the request through", {
          policy: policy.name,
          error: rootCauseMessage(error),
        });
        return;
      } finally {
        if (timer !== undefined) clearTimeout(timer);
      }
      if (outcome === "timeout") {
        log("warn", "rate limiter timed out; letting the request through", { policy: policy.name });
        return;
      }
      if (!outcome.success) throw new RateLimitedError(policy);
    },
  };
}
