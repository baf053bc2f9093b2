import type { AuditEvents, SecurityEvent } from "../audit/audit.events";
import type { Actor } from "../authz/actor";
import { can, guardFor } from "../authz/policy";
import type { AppConfig } from "../config";
import type { User } from "../db/schema";
import { EmailNotVerifiedError, ForbiddenError, NotFoundError, UnauthorizedError } from "../lib/errors";
import { newId } from "../lib/ids";
import { isCompactJws } from "../lib/jws";
import type { PasswordHasher } from "../lib/password";
import { generateToken, hashToken, isWellFormedToken } from "../lib/tokens";
import { cleanUserAgent } from "../lib/user-agent";
import { accountKey, rateLimitPolicies } from "../limits/policies";
import type { RateLimiter } from "../limits/rate-limiter";
import type { AccessTokens, IssuedAccessToken } from "../tokens/access-tokens";
import type { UsersRepository } from "../users/users.repository";
import type { SessionSummary, SessionsRepository } from "./sessions.repository";

export type LoginResult = { token: string; expiresAt: Date; user: User; accessToken: IssuedAccessToken };

/** A session in its owner's list. */
export type SessionView = SessionSummary & { current: boolean };

/** The most sessions a list shows (newest first); older ones still work and can be revoked. */
const SESSION_LIST_LIMIT = 100;

export type AuthService = {
  /** Same 401 for an unknown email, a wrong password and a disabled account, after the same work. */
  login(email: string, password: string, client?: { userAgent?: string | undefined }): Promise<LoginResult>;
  /** Revokes the caller's session (the one its session token or access token belongs to). */
  logout(actor: Actor): Promise<void>;
  /**
   * The actor behind a bearer token: a session token is looked up (KV, then D1); an access token
   * is verified by its signature and claims alone. 401 for a malformed, unknown, expired or
   * revoked session token, or an invalid access token.
   */
  authenticate(token: string): Promise<Actor>;
  /** The caller's whole user: the session's (session token) or read by id (access token). */
  me(actor: Actor): Promise<User>;
  /** A fresh access token for the caller's session, which must be live in D1; session tokens only. */
  issueAccessToken(actor: Actor): Promise<IssuedAccessToken>;
  listSessions(actor: Actor): Promise<SessionView[]>;
  /** Revokes one of the caller's sessions; another user's id is a 404. */
  revokeSession(actor: Actor, sessionId: string): Promise<void>;
  /** Signs out everywhere else: every session of the caller but the current one. */
  revokeOtherSessions(actor: Actor): Promise<void>;
  /** An admin's view of a user's live sessions (the admin's standing checked in D1); 404 for no such user. */
  listUserSessions(actor: Actor, userId: string): Promise<SessionView[]>;
  /** An admin signs a user out everywhere (an admin's own current session excepted); 404 for no such user. */
  revokeUserSessions(actor: Actor, userId: string): Promise<void>;
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
  accessTokens: AccessTokens;
  verificationMail?: VerificationMail;
  /** Sign-ins, failed sign-ins of known accounts, sign-outs and revocations are security events. */
  events?: AuditEvents;
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
  accessTokens,
  verificationMail,
  events,
  now = () => new Date(),
}: AuthServiceDeps): AuthService {
  const recording = <T>(event: SecurityEvent, write: () => Promise<T>) =>
    events ? events.recording(event, write) : write();
  const userTarget = (id: string) => ({ type: "user", id }) as const;
  // A known account's failed sign-in: recorded after the response, so it takes as long as an
  // unknown email's (which records nothing: there is no account to record it against).
  const signInFailed = (userId: string, reason: string) =>
    events?.recordAfterResponse({
      type: "auth.sign_in_failed",
      actorId: null,
      target: userTarget(userId),
      data: { reason },
    });

  /**
   * The caller's own user, for a read of its own data: the session's user as loaded with it, or,
   * for an access token, read again past the isolate's memory (the KV copy, then D1; every write
   * in this location purges it), so the caller reads its own writes and a disable made in another
   * isolate is a 401 at once.
   */
  async function activeUser(actor: Actor): Promise<User> {
    if (actor.credential.kind === "session") return actor.credential.user;
    const user = await users.findById(actor.user.id);
    if (user?.status !== "active") throw inactiveUser();
    return user;
  }

  return {
    async login(email, password, client = {}) {
      await limiter?.enforce(rateLimitPolicies.passwordPerAccount, await accountKey(email));
      const credentials = await users.findCredentialsByEmail(email);
      const { valid, needsRehash } = await hasher.verify(password, credentials?.passwordHash ?? null);
      if (!credentials || !valid || credentials.user.status !== "active") {
        if (credentials) signInFailed(credentials.user.id, valid ? "account_disabled" : "wrong_password");
        throw new UnauthorizedError(BAD_CREDENTIALS);
      }
      // Only after the password is right: a wrong one is the same 401 as ever, telling nothing.
      if (config.requireEmailVerification && !credentials.user.emailVerified) {
        signInFailed(credentials.user.id, "email_not_verified");
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
        userAgent: cleanUserAgent(client.userAgent),
      };
      // The session is created only while the password just verified is still the user's (and the
      // user still active): a password change, disable or delete since the check wins.
      const signedIn: SecurityEvent = {
        type: "auth.signed_in",
        actorId: credentials.user.id,
        target: userTarget(credentials.user.id),
        data: { method: "password", mfa: false, sessionId: session.id },
      };
      if (!(await recording(signedIn, () => sessions.insert(session, { passwordHash })))) {
        signInFailed(credentials.user.id, "credentials_changed");
        throw new UnauthorizedError(BAD_CREDENTIALS);
      }
      const accessToken = await accessTokens.issue(session.id, credentials.user);
      return { token, expiresAt, user: credentials.user, accessToken };
    },

    async logout(actor) {
      const signedOut: SecurityEvent = {
        type: "auth.signed_out",
        actorId: actor.user.id,
        target: userTarget(actor.user.id),
        data: { sessionId: actor.sessionId },
      };
      const { credential } = actor;
      await recording(signedOut, () =>
        credential.kind === "session"
          ? sessions.revoke({ id: actor.sessionId, tokenHash: credential.tokenHash })
          : sessions.revokeOwned(actor.user.id, { id: actor.sessionId }, guardFor(actor, [], undefined, now())),
      );
    },

    async authenticate(token) {
      if (isCompactJws(token)) {
        const claims = await accessTokens.verify(token);
        // The one rule for a stale token (docs/tokens.md): its session is not looked up for a
        // read, but its user is: a disabled or deleted user's token is a 401 everywhere. Here from
        // any cache tier (the isolate's memory may be a few seconds behind another isolate's
        // write); what reads the caller's own data reads the user again, fresh (activeUser).
        const user = await users.findById(claims.sub, { allowStale: true });
        if (user?.status !== "active") throw inactiveUser();
        return {
          sessionId: claims.sid,
          user: { id: claims.sub, role: claims.role, emailVerified: claims.email_verified },
          credential: { kind: "access-token", expiresAt: new Date(claims.exp * 1000), user },
        };
      }
      if (!isWellFormedToken(token)) throw new UnauthorizedError("The bearer token is malformed.", "invalid_token");
      const tokenHash = await hashToken(token);
      const session = await sessions.findActiveByTokenHash(tokenHash, now());
      if (!session) throw new UnauthorizedError("The bearer token is invalid, expired or revoked.", "invalid_token");
      return {
        sessionId: session.id,
        user: session.user,
        credential: { kind: "session", tokenHash, user: session.user },
      };
    },

    async me(actor) {
      return activeUser(actor);
    },

    async issueAccessToken(actor) {
      if (actor.credential.kind !== "session") {
        throw new UnauthorizedError("A new access token takes a session token, not an access token.", "invalid_token");
      }
      // From D1, not KV: a session revoked in another location must not mint tokens here.
      const session = await sessions.findLiveById(actor.sessionId, now());
      if (!session) throw new UnauthorizedError("The bearer token is invalid, expired or revoked.", "invalid_token");
      return accessTokens.issue(session.id, session.user);
    },

    async listSessions(actor) {
      await activeUser(actor);
      const list = await sessions.listForUser(actor.user.id, now(), SESSION_LIST_LIMIT);
      return list.map((session) => ({ ...session, current: session.id === actor.sessionId }));
    },

    async revokeSession(actor, sessionId) {
      const revokedEvent = sessionsRevoked(actor, actor.user.id, { sessionId });
      const { revoked } = await recording(revokedEvent, () =>
        sessions.revokeOwned(actor.user.id, { id: sessionId }, guardFor(actor, [], undefined, now())),
      );
      if (revoked === 0) throw new NotFoundError("You have no session with this id.");
    },

    async revokeOtherSessions(actor) {
      await recording(sessionsRevoked(actor, actor.user.id, { scope: "others" }), () =>
        sessions.revokeOwned(actor.user.id, { exceptId: actor.sessionId }, guardFor(actor, [], undefined, now())),
      );
    },

    async listUserSessions(actor, userId) {
      const guard = administering(actor);
      await sessions.check(guard);
      if (!(await users.findById(userId))) throw new NotFoundError("No user with this id.");
      const list = await sessions.listForUser(userId, now(), SESSION_LIST_LIMIT);
      return list.map((session) => ({ ...session, current: session.id === actor.sessionId }));
    },

    async revokeUserSessions(actor, userId) {
      const guard = administering(actor);
      // The caller's standing first: a signed-out or demoted admin learns nothing about ids.
      await sessions.check(guard);
      if (!(await users.findById(userId))) throw new NotFoundError("No user with this id.");
      await recording(sessionsRevoked(actor, userId, { scope: "all" }), () =>
        sessions.revokeOwned(userId, { exceptId: actor.sessionId }, guard),
      );
    },

    pruneExpiredSessions() {
      return sessions.deleteExpired(now());
    },
  };

  // Recorded only if a session does end (a revocation that ends none leaves no event).
  function sessionsRevoked(actor: Actor, userId: string, data: SecurityEvent["data"]): SecurityEvent {
    return { type: "session.revoked", actorId: actor.user.id, target: userTarget(userId), data };
  }

  function administering(actor: Actor) {
    if (!can(actor, "users:administer"))
      throw new ForbiddenError("Only admins may see or end another user's sessions.");
    return guardFor(actor, ["users:administer"], undefined, now());
  }
}

function inactiveUser(): UnauthorizedError {
  return new UnauthorizedError("The user of this access token is disabled or no longer exists.", "invalid_token");
}
