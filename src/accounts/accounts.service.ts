import type { AuditEvents, SecurityEvent } from "../audit/audit.events";
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
import type { BreachCheck } from "../passwords/breach";
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
  /**
   * The undo link mailed to the address an owner's email change replaced: the account gets that
   * address back (verified: the link proves it is read there), and every session ends.
   */
  undoEmailChange(token: string): Promise<User>;
  /** An admin mails a user a reset link. */
  requestPasswordResetFor(actor: Actor, userId: string): Promise<void>;
  /** Sign-up (and an admin creating a user) mails a verification link. */
  afterSignUp(user: User): void;
  /**
   * A new email is unverified: a link goes to it, and a notice to the address it replaced, with a
   * one-time undo link when the owner made the change (an admin's change says whom to ask).
   */
  afterEmailChange(user: User, previousEmail: string, by: "owner" | "admin"): void;
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
  /** A new password found in a known breach is refused (PASSWORD_BREACH_CHECK). */
  breachCheck: BreachCheck;
  /** What a link does to the account (verified, reset, undone) is a security event. */
  events?: AuditEvents;
  limiter?: RateLimiter;
  config: Pick<AppConfig, "appUrl" | "emailVerificationTtlSeconds" | "passwordResetTtlSeconds">;
  /** How long the undo link of an email change works (default 7 days). */
  emailChangeUndoTtlSeconds?: number;
  /** Work after the response (ctx.waitUntil). */
  defer: (task: Promise<unknown>) => void;
  now?: () => Date;
};

const afterResponse = () => new Promise((resolve) => setTimeout(resolve, 0));

const PAGES: Record<EmailTokenPurpose, string> = {
  verify_email: "verify-email",
  reset_password: "reset-password",
  undo_email_change: "undo-email-change",
};

// Long enough for an owner to notice a takeover in a mailbox read weekly, short enough that an
// address given up later is unlikely to be read by someone else meanwhile.
const EMAIL_CHANGE_UNDO_TTL_SECONDS = 7 * 86_400;

export function createAccountsService({
  users,
  tokens,
  standing,
  mailer,
  hasher,
  breachCheck,
  events,
  limiter,
  config,
  defer,
  emailChangeUndoTtlSeconds = EMAIL_CHANGE_UNDO_TTL_SECONDS,
  now = () => new Date(),
}: AccountsServiceDeps): AccountsService {
  // A link's holder is not signed in: the event has no actor, only the account it acted on.
  const linkEvent = (type: SecurityEvent["type"], userId: string, data?: SecurityEvent["data"]): SecurityEvent => ({
    type,
    actorId: null,
    target: { type: "user", id: userId },
    data,
  });
  const recording = <T>(event: SecurityEvent, write: () => Promise<T>) =>
    events ? events.recording(event, write) : write();

  const ttlSeconds: Record<EmailTokenPurpose, number> = {
    verify_email: config.emailVerificationTtlSeconds,
    reset_password: config.passwordResetTtlSeconds,
    undo_email_change: emailChangeUndoTtlSeconds,
  };

  // A new link to `to` for `user`'s account, stored only while the account is active with the email
  // `user` has (the account went away, was disabled or changed address in the meantime: no link).
  async function issueLink(user: User, purpose: EmailTokenPurpose, to: string) {
    const token = generateToken();
    const createdAt = now();
    const expiresAt = new Date(createdAt.getTime() + ttlSeconds[purpose] * 1000);
    const row = { tokenHash: await hashToken(token), userId: user.id, purpose, email: to, createdAt, expiresAt };
    if (!(await tokens.issue(row, { whileEmailIs: user.email }))) return null;
    return { link: `${config.appUrl}/${PAGES[purpose]}?token=${token}`, expiresAt: expiresAt.toISOString() };
  }

  // A verification or reset link to the user's own address, then its mail queued.
  async function mailLink(user: User, purpose: "verify_email" | "reset_password", options: { byAdmin?: boolean } = {}) {
    const issued = await issueLink(user, purpose, user.email);
    if (!issued) return;
    await mailer.send(
      purpose === "verify_email"
        ? { kind: "verify-email", to: user.email, ...issued }
        : { kind: "reset-password", to: user.email, ...issued, byAdmin: options.byAdmin ?? false },
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
      const result = await recording(linkEvent("email.verified", row.userId), () =>
        users.update(row.userId, { emailVerified: true, updatedAt: now() }, { activeWithEmail: row.email }),
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
      // A refused password leaves the link usable, and the breach check (a call to another
      // service) is spent only on a link that is still good: look at the link, check, then take it.
      if (!isWellFormedToken(token) || !(await tokens.isPending(await hashToken(token), now()))) {
        throw new InvalidTokenError();
      }
      await breachCheck.refuseIfBreached(password);
      const row = await consume(token, "reset_password");
      let result: Awaited<ReturnType<UsersRepository["update"]>>;
      try {
        const passwordHash = await hasher.hash(password);
        // The link proves the owner reads that address: it is verified too.
        result = await recording(linkEvent("password.reset", row.userId), () =>
          users.update(
            row.userId,
            { passwordHash, emailVerified: true, updatedAt: now() },
            { activeWithEmail: row.email, revokeSessions: {} },
          ),
        );
      } catch (error) {
        // Nothing was changed (a 503): the link is given back, so the user can try it again.
        await tokens.restore(row).catch(() => undefined);
        throw error;
      }
      // The same batch voided any other reset link (a new password voids them all).
      if (result.outcome !== "updated") throw new InvalidTokenError();
    },

    async undoEmailChange(token) {
      const row = await consume(token, "undo_email_change");
      let result: Awaited<ReturnType<UsersRepository["update"]>>;
      try {
        // Every session ends: whoever moved the email away is signed out too. Reset links (which
        // went to the address being replaced) are voided by the email change itself.
        result = await recording(linkEvent("email.changed", row.userId, { to: row.email, undo: true }), () =>
          users.update(
            row.userId,
            { email: row.email, emailVerified: true, updatedAt: now() },
            { activeOnly: true, revokeSessions: {} },
          ),
        );
      } catch (error) {
        // Nothing was changed (the address is taken by another account now, or a 503).
        await tokens.restore(row).catch(() => undefined);
        if (error instanceof ConflictError) {
          throw new ConflictError(
            "This address now belongs to another account, so the change cannot be undone here: contact the service's administrators.",
          );
        }
        throw error;
      }
      if (result.outcome !== "updated") throw new InvalidTokenError();
      return result.user;
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
      // The address's budget, as every mail to it: sign-up → sign-in → delete cycles mail no more.
      later("mailing a verification link", async () => {
        if (await withinMailBudget(user.email)) await mailLink(user, "verify_email");
      });
    },

    afterEmailChange(user, previousEmail, by) {
      // Each address gets at most its budget of mails, however often the email is changed.
      later("mailing a verification link", async () => {
        if (await withinMailBudget(user.email)) await mailLink(user, "verify_email");
      });
      const changedAt = now().toISOString();
      later("mailing an email change notice", async () => {
        if (!(await withinMailBudget(previousEmail))) return;
        const undo = by === "owner" ? await issueLink(user, "undo_email_change", previousEmail) : null;
        // The account changed again before the notice went out: a later notice speaks for it.
        if (by === "owner" && !undo) return;
        await mailer.send({
          kind: "email-changed",
          to: previousEmail,
          newEmail: user.email,
          changedAt,
          undo: undo ?? undefined,
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
