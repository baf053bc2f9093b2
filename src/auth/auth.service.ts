import type { Actor } from "../authz/actor";
import type { AppConfig } from "../config";
import type { User } from "../db/schema";
import { EmailNotVerifiedError, UnauthorizedError } from "../lib/errors";
import { newId } from "../lib/ids";
import type { PasswordHasher } from "../lib/password";
import { generateToken, hashToken, isWellFormedToken } from "../lib/tokens";
import { accountKey, rateLimitPolicies } from "../limits/policies";
import type { RateLimiter } from "../limits/rate-limiter";
import type { UsersRepository } from "../users/users.repository";
import type { SessionsRepository } from "./sessions.repository";

export type LoginResult = { token: string; expiresAt: Date; user: User };

export type AuthService = {
  /** Same 401 for an unknown email, a wrong password and a disabled account, after the same work. */
  login(email: string, password: string): Promise<LoginResult>;
  logout(actor: Actor): Promise<void>;
  /** The actor behind a bearer token; throws 401 for a malformed, unknown, expired or revoked one. */
  authenticate(token: string): Promise<Actor>;
  /** Housekeeping for the scheduled handler: drop expired sessions. */
  pruneExpiredSessions(): Promise<number>;
};

/** What sign-in asks of the account lifecycle (src/accounts/): a fresh link for an unverified address. */
export type VerificationMail = { afterUnverifiedSignIn(user: User): void };

export type AuthServiceDeps = {
  /** Attempts per account are limited before any password work is done. */
  limiter?: RateLimiter;
  users: UsersRepository;
  sessions: SessionsRepository;
  hasher: PasswordHasher;
  verificationMail?: VerificationMail;
  config: Pick<AppConfig, "sessionTtlSeconds" | "requireEmailVerification">;
  now?: () => Date;
};

const BAD_CREDENTIALS = "The email or password is wrong.";

export function createAuthService({
  users,
  sessions,
  hasher,
  config,
  limiter,
  verificationMail,
  now = () => new Date(),
}: AuthServiceDeps): AuthService {
  return {
    async login(email, password) {
      await limiter?.enforce(rateLimitPolicies.passwordPerAccount, await accountKey(email));
      const credentials = await users.findCredentialsByEmail(email);
      const { valid, needsRehash } = await hasher.verify(password, credentials?.passwordHash ?? null);
      if (!credentials || !valid || credentials.user.status !== "active") {
        throw new UnauthorizedError(BAD_CREDENTIALS);
      }
      // Only after the password is right: a wrong one is the same 401 as ever, telling nothing.
      if (config.requireEmailVerification && !credentials.user.emailVerified) {
        verificationMail?.afterUnverifiedSignIn(credentials.user);
        throw new EmailNotVerifiedError();
      }
      let passwordHash = credentials.passwordHash;
      if (needsRehash) {
        // Only replaces the hash it verified; if a password change won the race, the session
        // below is refused for the same reason.
        passwordHash = await hasher.hash(password);
        await users.replacePasswordHash(credentials.user.id, credentials.passwordHash, passwordHash);
      }
      const token = generateToken();
      const createdAt = now();
      const expiresAt = new Date(createdAt.getTime() + config.sessionTtlSeconds * 1000);
      const session = {
        id: newId(),
        userId: credentials.user.id,
        tokenHash: await hashToken(token),
        createdAt,
        expiresAt,
      };
      // The session is created only while the password just verified is still the user's (and the
      // user still active): a password change, disable or delete since the check wins.
      if (!(await sessions.insert(session, { passwordHash }))) throw new UnauthorizedError(BAD_CREDENTIALS);
      return { token, expiresAt, user: credentials.user };
    },

    async logout(actor) {
      await sessions.revoke({ id: actor.sessionId, tokenHash: actor.tokenHash });
    },

    async authenticate(token) {
      if (!isWellFormedToken(token)) throw new UnauthorizedError("The bearer token is malformed.", "invalid_token");
      const tokenHash = await hashToken(token);
      const session = await sessions.findActiveByTokenHash(tokenHash, now());
      if (!session) throw new UnauthorizedError("The bearer token is invalid, expired or revoked.", "invalid_token");
      return { sessionId: session.id, tokenHash, user: session.user };
    },

    pruneExpiredSessions() {
      return sessions.deleteExpired(now());
    },
  };
}
