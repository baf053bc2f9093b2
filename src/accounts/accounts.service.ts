import type { Actor } from "../authz/actor";
import { can, guardFor, type StandingCheck } from "../authz/policy";
import type { AppConfig } from "../config";
import type { EmailTokenPurpose, User } from "../db/schema";
import {
  ConflictError,
  ForbiddenError,
  InvalidTokenError,
  NotFoundError,
  rootCauseMessage,
  UnauthorizedError,
} from "../lib/errors";
import { ID_PATTERN } from "../lib/ids";
import { log } from "../lib/log";
import type { PasswordHasher } from "../lib/password";
import { generateToken, hashToken, isWellFormedToken } from "../lib/tokens";
import { accountKey, RateLimitedError, rateLimitPolicies } from "../limits/policies";
import type { RateLimiter } from "../limits/rate-limiter";
import type { Mailer } from "../mail/mail";
import type { UsersRepository } from "../users/users.repository";
import type { EmailTokensRepository } from "./email-tokens.repository";

/**
 * The account lifecycle by email: verification links, password reset, the notices an email
 * change sends. Links carry 256-bit random tokens, stored only as hashes, single use, expiring,
 * voided by a newer link of the same purpose, and good only while the account still has the
 * address they were sent to. Mail is queued, never sent on a request's path; the work that mails
 * is done after the response, so every request here answers as fast whether it mails or not.
 */
export type AccountsService = {
  /** Mails the caller a verification link, unless the address is already verified. */
  requestVerification(actor: Actor): Promise<void>;
  /** Marks the address the link was sent to as verified; returns the user. */
  confirmVerification(token: string): Promise<User>;
  /**
   * Mails a reset link if `email` is an active account's. Answers the same, after the same work
   * before the answer (one rate-limit check, one lookup), whether or not it is.
   */
  requestPasswordReset(email: string): Promise<void>;
  /** Sets the new password and ends every session of the user. */
  confirmPasswordReset(token: string, password: string): Promise<void>;
  /** An admin mails a user a reset link. */
  requestPasswordResetFor(actor: Actor, userId: string): Promise<void>;
  /** Sign-up (and an admin creating a user) mails a verification link. */
  afterSignUp(user: User): void;
  /** A new email is unverified: a link goes to it, and a notice to the address it replaced. */
  afterEmailChange(user: User, previousEmail: string): void;
  /** A correct sign-in refused for an unverified address mails a fresh link, so nobody is stuck. */
  afterUnverifiedSignIn(user: User): void;
  /** Housekeeping: forget expired links. */
  pruneExpiredTokens(): Promise<number>;
};

export type AccountsServiceDeps = {
  users: UsersRepository;
  tokens: EmailTokensRepository;
  /** An admin's request is checked against the session and the role in D1, not the caller's copy. */
  standing: StandingCheck;
  mailer: Mailer;
  hasher: PasswordHasher;
  limiter?: RateLimiter;
  config: Pick<AppConfig, "appUrl" | "emailVerificationTtlSeconds" | "passwordResetTtlSeconds">;
  /** Work after the response (ctx.waitUntil). */
  defer: (task: Promise<unknown>) => void;
  now?: () => Date;
};

const afterResponse = () => new Promise((resolve) => setTimeout(resolve, 0));

const PAGES: Record<EmailTokenPurpose, string> = { verify_email: "verify-email", reset_password: "reset-password" };

export function createAccountsService({
  users,
  tokens,
  standing,
  mailer,
  hasher,
  limiter,
  config,
  defer,
  now = () => new Date(),
}: AccountsServiceDeps): AccountsService {
  // A new link for `user`: its token stored (voiding earlier ones), then the mail queued.
  async function mailLink(user: User, purpose: EmailTokenPurpose, options: { byAdmin?: boolean } = {}) {
    const token = generateToken();
    const createdAt = now();
    const ttlSeconds = purpose === "verify_email" ? config.emailVerificationTtlSeconds : config.passwordResetTtlSeconds;
    const expiresAt = new Date(createdAt.getTime() + ttlSeconds * 1000);
    const tokenHash = await hashToken(token);
    const issued = await tokens.issue({ tokenHash, userId: user.id, purpose, email: user.email, createdAt, expiresAt });
    // The account went away, was disabled or changed address in the meantime: no link for it.
    if (!issued) return;
    const link = `${config.appUrl}/${PAGES[purpose]}?token=${token}`;
    const common = { to: user.email, name: user.name, link, expiresAt: expiresAt.toISOString() };
    await mailer.send(
      purpose === "verify_email"
        ? { kind: "verify-email", ...common }
        : { kind: "reset-password", ...common, byAdmin: options.byAdmin ?? false },
    );
  }

  // After the response: the work starts once the response has left (a macrotask later, so none of
  // it shows in the response's Server-Timing), and a failure is logged, never the link; the user
  // can ask again.
  function later(what: string, work: () => Promise<unknown>) {
    defer(
      afterResponse()
        .then(work)
        .catch((error: unknown) => {
          log("error", `${what} failed; the user can ask again`, { error: rootCauseMessage(error) });
        }),
    );
  }

  // Links mailed to one account, whoever asks: a spent budget is a 429 for known and unknown alike.
  async function spendMailBudget(email: string) {
    await limiter?.enforce(rateLimitPolicies.mailPerAccount, await accountKey(email));
  }

  // The same budget, for mail the user did not ask for by a request of its own (a sign-in, an email
  // change): past it, the mail is skipped rather than the request refused.
  async function withinMailBudget(email: string): Promise<boolean> {
    return spendMailBudget(email).then(
      () => true,
      (error: unknown) => (error instanceof RateLimitedError ? false : Promise.reject(error)),
    );
  }

  async function consume(token: string, purpose: EmailTokenPurpose) {
    if (!isWellFormedToken(token)) throw new InvalidTokenError();
    const row = await tokens.consume(await hashToken(token), purpose, now());
    if (!row) throw new InvalidTokenError();
    return row;
  }

  return {
    async requestVerification(actor) {
      // The user as it is now (an access token's claims may be minutes old), and, as for every
      // write, a live session: a signed-out session's access token mails nothing.
      if (actor.credential.kind === "access-token") await standing.check(guardFor(actor, [], undefined, now()));
      const user = actor.credential.kind === "session" ? actor.credential.user : await users.findById(actor.user.id);
      if (!user) throw new UnauthorizedError("The user of this token no longer exists.", "invalid_token");
      if (user.emailVerified) return;
      await spendMailBudget(user.email);
      later("mailing a verification link", () => mailLink(user, "verify_email"));
    },

    async confirmVerification(token) {
      const row = await consume(token, "verify_email");
      const result = await users.update(
        row.userId,
        { emailVerified: true, updatedAt: now() },
        { activeWithEmail: row.email },
      );
      // The account is gone or disabled, or its email changed since the link was sent.
      if (result.outcome !== "updated") throw new InvalidTokenError();
      return result.user;
    },

    async requestPasswordReset(email) {
      await spendMailBudget(email);
      const credentials = await users.findCredentialsByEmail(email);
      const user = credentials?.user;
      if (user?.status === "active") later("mailing a password reset link", () => mailLink(user, "reset_password"));
    },

    async confirmPasswordReset(token, password) {
      const row = await consume(token, "reset_password");
      let result: Awaited<ReturnType<UsersRepository["update"]>>;
      try {
        const passwordHash = await hasher.hash(password);
        // The link proves the owner reads that address: it is verified too.
        result = await users.update(
          row.userId,
          { passwordHash, emailVerified: true, updatedAt: now() },
          { activeWithEmail: row.email, revokeSessions: {} },
        );
      } catch (error) {
        // Nothing was changed (a 503): the link is given back, so the user can try it again.
        await tokens.restore(row).catch(() => undefined);
        throw error;
      }
      if (result.outcome !== "updated") throw new InvalidTokenError();
      // Any other reset link (only a race leaves one: a new link voids the old) is void now.
      later("voiding other reset links", () => tokens.voidAll(row.userId, "reset_password"));
    },

    async requestPasswordResetFor(actor, userId) {
      if (!can(actor, "users:administer")) throw new ForbiddenError("Only admins may send a password reset.");
      await standing.check(guardFor(actor, ["users:administer"], undefined, now()));
      const user = ID_PATTERN.test(userId) ? await users.findById(userId) : null;
      if (!user) throw new NotFoundError("No user with this id.");
      // A disabled user's link would not work: say so rather than mail it.
      if (user.status !== "active")
        throw new ConflictError("This user is disabled: enable it before sending a reset link.");
      await spendMailBudget(user.email);
      later("mailing a password reset link", () => mailLink(user, "reset_password", { byAdmin: true }));
    },

    afterSignUp(user) {
      later("mailing a verification link", () => mailLink(user, "verify_email"));
    },

    afterEmailChange(user, previousEmail) {
      // Each address gets at most its budget of mails, however often the email is changed.
      later("mailing a verification link", async () => {
        if (await withinMailBudget(user.email)) await mailLink(user, "verify_email");
      });
      const changedAt = now().toISOString();
      later("mailing an email change notice", async () => {
        if (!(await withinMailBudget(previousEmail))) return;
        await mailer.send({
          kind: "email-changed",
          to: previousEmail,
          name: user.name,
          newEmail: user.email,
          changedAt,
        });
      });
    },

    afterUnverifiedSignIn(user) {
      // Repeated sign-in attempts mail at most the account's budget of links; the rest, nothing.
      later("mailing a verification link", async () => {
        if (await withinMailBudget(user.email)) await mailLink(user, "verify_email");
      });
    },

    pruneExpiredTokens() {
      return tokens.deleteExpired(now());
    },
  };
}
