import { AppError, problemKinds } from "../lib/errors";
import { sha256 } from "../lib/tokens";

/**
 * The rate limits, as configured in wrangler.toml `[[ratelimits]]`. The binding enforces them;
 * this table is what the Worker tells clients (RateLimit-Policy, Retry-After).
 */
export type RateLimitPolicy = {
  /** The policy's name in RateLimit headers. */
  name: string;
  binding:
    | "LOGIN_IP_LIMITER"
    | "PASSWORD_ACCOUNT_LIMITER"
    | "SIGNUP_IP_LIMITER"
    | "MAIL_IP_LIMITER"
    | "MAIL_ACCOUNT_LIMITER"
    | "API_LIMITER";
  limit: number;
  periodSeconds: 10 | 60;
};

export const rateLimitPolicies = {
  loginPerClient: { name: "login-ip", binding: "LOGIN_IP_LIMITER", limit: 10, periodSeconds: 60 },
  /** Every check of a password (sign-in, a password change's currentPassword) spends this budget. */
  passwordPerAccount: { name: "password-account", binding: "PASSWORD_ACCOUNT_LIMITER", limit: 5, periodSeconds: 60 },
  signupPerClient: { name: "signup-ip", binding: "SIGNUP_IP_LIMITER", limit: 5, periodSeconds: 60 },
  /** Requests that mail a link (verification, password reset), per client address. */
  mailPerClient: { name: "mail-ip", binding: "MAIL_IP_LIMITER", limit: 10, periodSeconds: 60 },
  /** Links mailed to one account, whoever asks (known or not: the same answer either way). */
  mailPerAccount: { name: "mail-account", binding: "MAIL_ACCOUNT_LIMITER", limit: 3, periodSeconds: 60 },
  api: { name: "api", binding: "API_LIMITER", limit: 600, periodSeconds: 60 },
} as const satisfies Record<string, RateLimitPolicy>;

/** The key of an account's password budget: a hash of its email, so the limiter never sees the address. */
export async function accountKey(email: string): Promise<string> {
  return `account:${await sha256(email)}`;
}

/** `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers): `"login-ip";q=10;w=60`. */
export function policyHeader(policy: RateLimitPolicy): string {
  return `"${policy.name}";q=${policy.limit};w=${policy.periodSeconds}`;
}

/** 429 naming the policy, with the headers of draft-ietf-httpapi-ratelimit-headers and Retry-After. */
export class RateLimitedError extends AppError {
  constructor(policy: RateLimitPolicy) {
    super(problemKinds.rateLimited, `Too many requests for the "${policy.name}" limit; retry later.`, {
      headers: {
        // The binding does not say when its window ends, so the whole period is the honest bound.
        "Retry-After": String(policy.periodSeconds),
        "RateLimit-Policy": policyHeader(policy),
        RateLimit: `"${policy.name}";r=0;t=${policy.periodSeconds}`,
      },
    });
  }
}
