import type { AuditEvents, SecurityEvent } from "../audit/audit.events";
import type { Actor } from "../authz/actor";
import { type Action, can, guardFor, type StandingCheck } from "../authz/policy";
import type { AppConfig } from "../config";
import type { SessionGuard } from "../db/guards";
import type { User } from "../db/schema";
import {
  type AppError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  PreconditionFailedError,
  UnauthorizedError,
  UnprocessableError,
  ValidationError,
} from "../lib/errors";
import { ID_PATTERN } from "../lib/ids";
import type { PasswordHasher } from "../lib/password";
import { accountKey, rateLimitPolicies } from "../limits/policies";
import type { RateLimiter } from "../limits/rate-limiter";
import type { BreachCheck } from "../passwords/breach";
import { newUserRow, USER_NOT_FOUND } from "./users.model";
import type { UserChanges, UserListFilter, UsersRepository } from "./users.repository";
import type { CreateUserInput, UpdateUserInput } from "./users.schemas";

/** From `If-Match`: the write happens only if the user is at one of these versions (else 412). */
export type Precondition = { versions: number[] };

export type UserReadResult = { user: User; view: "full" | "public" };
export type UserPage = { users: User[]; hasMore: boolean };

export type UsersService = {
  create(actor: Actor | null, input: CreateUserInput): Promise<User>;
  get(actor: Actor | null, id: string): Promise<UserReadResult>;
  /** True when the caller is an admin now: a live session and the admin role in D1, not a claim. */
  standsAsAdmin(actor: Actor | null): Promise<boolean>;
  list(actor: Actor, filter: UserListFilter): Promise<UserPage>;
  update(actor: Actor, id: string, input: UpdateUserInput, precondition?: Precondition): Promise<User>;
  delete(actor: Actor, id: string, precondition?: Precondition): Promise<void>;
};

/** What the users service asks of the account lifecycle (src/accounts/): the mails a write sends. */
export type AccountMail = {
  afterSignUp(user: User): void;
  afterEmailChange(user: User, previousEmail: string, by: "owner" | "admin"): void;
};

export type UsersServiceDeps = {
  users: UsersRepository;
  /** Admin reads are checked against the session and the role in D1, not the caller's copy. */
  standing: StandingCheck;
  accountMail?: AccountMail;
  /** Each write records its security events in its own batch. */
  events?: AuditEvents;
  hasher: PasswordHasher;
  /** A new password found in a known breach is refused (PASSWORD_BREACH_CHECK). */
  breachCheck: BreachCheck;
  /** A currentPassword check spends the account's password budget, as a sign-in does. */
  limiter?: RateLimiter;
  config: Pick<AppConfig, "signupOpen">;
  now?: () => Date;
};

const LAST_ADMIN = "The last active admin cannot be removed, demoted or disabled.";
/** How often a PATCH re-reads the user when another write keeps landing first (then a 412). */
const MAX_EVENT_RETRIES = 3;
const OWNER_OR_ADMIN = "Only the user or an admin may do this.";

export function createUsersService({
  users,
  standing,
  accountMail,
  events,
  hasher,
  breachCheck,
  config,
  limiter,
  now = () => new Date(),
}: UsersServiceDeps): UsersService {
  // The write alone when no recorder is wired (unit tests of other concerns).
  const recording = <T>(recorded: SecurityEvent[], write: () => Promise<T>) =>
    events ? events.recording(recorded, write) : write();

  /** Whether the guard still holds in D1: false for an ended session or a role since taken away. */
  async function stands(guard: SessionGuard): Promise<boolean> {
    try {
      await standing.check(guard);
      return true;
    } catch (error) {
      if (error instanceof UnauthorizedError || error instanceof ForbiddenError) return false;
      throw error;
    }
  }

  return {
    async create(actor, input) {
      const administers = can(actor, "users:administer");
      if (!config.signupOpen && !administers) {
        if (!actor) throw new UnauthorizedError("Sign-up is closed; an admin must create users.");
        throw new ForbiddenError("Sign-up is closed; only admins may create users.");
      }
      const setsRoleOrStatus = input.role !== undefined || input.status !== undefined;
      if (setsRoleOrStatus && !administers) throw new ForbiddenError("Only admins may set role or status.");
      // Where only an admin may create this user, the admin's session and role are checked in the insert.
      const asAdmin = actor && (setsRoleOrStatus || !config.signupOpen);
      const guard = asAdmin ? guardFor(actor, ["users:administer"], undefined, now()) : undefined;
      // Before any lookup of the email or username: a breached password is the same 422 whether or
      // not the account exists, and nothing is hashed or written for it.
      await breachCheck.refuseIfBreached(input.password);
      const row = newUserRow(input, await hasher.hash(input.password), now());
      const created: SecurityEvent = {
        type: "user.created",
        actorId: actor?.user.id ?? null,
        target: { type: "user", id: row.id },
        data: { role: row.role, status: row.status, by: administers ? "admin" : "sign_up" },
      };
      const user = await recording([created], () => users.insert(row, { guard }));
      accountMail?.afterSignUp(user);
      return user;
    },

    async get(actor, id) {
      let view: UserReadResult["view"] = can(actor, "user:read-private", { userId: id }) ? "full" : "public";
      // An admin's view of someone else rests on the role: checked in D1, not on the caller's copy.
      // A token that no longer carries it (demoted, signed out) still reads what anyone may.
      if (actor && view === "full" && actor.user.id !== id) {
        if (!(await stands(guardFor(actor, ["user:read-private"], { userId: id }, now())))) view = "public";
      }
      // Only the public profile may come from a copy a few seconds old: owners read their writes.
      const user = ID_PATTERN.test(id) ? await users.findById(id, { allowStale: view === "public" }) : null;
      if (!user) throw new NotFoundError(USER_NOT_FOUND);
      // Reading oneself by access token: read fresh just now, so a disable anywhere in this location is a 401.
      if (actor?.user.id === id && user.status !== "active") {
        throw new UnauthorizedError("The user of this access token is disabled or no longer exists.", "invalid_token");
      }
      return { user, view };
    },

    async standsAsAdmin(actor) {
      if (!actor || !can(actor, "users:administer")) return false;
      return stands(guardFor(actor, ["users:administer"], undefined, now()));
    },

    async list(actor, filter) {
      if (!can(actor, "users:list")) throw new ForbiddenError("Only admins may list users.");
      const guard = guardFor(actor, ["users:list"], undefined, now());
      const rows = await users.list({ ...filter, limit: filter.limit + 1 }, { guard });
      return { users: rows.slice(0, filter.limit), hasMore: rows.length > filter.limit };
    },

    async update(actor, id, input, precondition) {
      if (!can(actor, "user:update", { userId: id })) throw new ForbiddenError(OWNER_OR_ADMIN);
      const actions: Action[] = ["user:update"];
      if (input.role !== undefined || input.status !== undefined) {
        if (!can(actor, "users:administer")) throw new ForbiddenError("Only admins may change role or status.");
        actions.push("users:administer");
      }
      const { currentPassword, password, ...fields } = input;
      const changes: UserChanges = { ...fields, updatedAt: now() };
      const own = actor.user.id === id;
      const ownPassword = password !== undefined && own;
      // The user before the write: which fields it changes, for its events, and which address a new
      // email replaces, for the notice to it (from the database, never a cache, when an email is sent).
      const before =
        fields.email !== undefined ? (await users.findCredentialsById(id))?.user : await users.findById(id);
      const previousEmail = fields.email !== undefined ? before?.email : undefined;
      // Moving one's own email is as strong as changing the password (the new address can reset
      // it): a session or a five-minute access token alone must not do it. Admins need no password.
      const ownEmail = own && previousEmail !== undefined && previousEmail !== fields.email;
      if (password !== undefined || ownEmail) {
        // An access token's claims may be minutes old: before any password work (a guess at
        // currentPassword, a new hash), its session must be live. The write re-checks it anyway.
        if (actor.credential.kind === "access-token")
          await standing.check(guardFor(actor, actions, { userId: id }, now()));
        if (ownPassword || ownEmail)
          await checkCurrentPassword(id, currentPassword, ownPassword ? "password" : "email");
        if (password !== undefined) {
          await breachCheck.refuseIfBreached(password);
          changes.passwordHash = await hasher.hash(password);
        }
      }
      // The events say what changed from `before`, so the write is made only while the user is
      // still at `before`'s version: if another write landed in between (or `before` was a cached
      // copy), the user is read again from the database and the events made again from it. A
      // client's own If-Match is its own condition: stale is then its 412.
      let current = before;
      let result: Awaited<ReturnType<UsersRepository["update"]>>;
      for (let attempt = 1; ; attempt++) {
        const recorded = current ? updateEvents(actor, current, fields, password !== undefined) : [];
        result = await recording(recorded, () =>
          users.update(id, changes, {
            keepAnActiveAdmin: changes.role === "member" || changes.status === "disabled",
            // A new password or a disabled account ends every other session at once.
            revokeSessions:
              password !== undefined || changes.status === "disabled"
                ? { exceptSessionId: ownPassword ? actor.sessionId : undefined }
                : undefined,
            expectedVersions: precondition?.versions ?? (current ? [current.version] : undefined),
            guard: guardFor(actor, actions, { userId: id }, now()),
          }),
        );
        if (result.outcome !== "stale" || precondition?.versions || attempt === MAX_EVENT_RETRIES) break;
        current = (await users.findCredentialsById(id))?.user;
      }
      if (result.outcome !== "updated") throw refused(result.outcome);
      if (previousEmail !== undefined && previousEmail !== result.user.email) {
        accountMail?.afterEmailChange(result.user, previousEmail, own ? "owner" : "admin");
      }
      return result.user;
    },

    async delete(actor, id, precondition) {
      if (!can(actor, "user:delete", { userId: id })) throw new ForbiddenError(OWNER_OR_ADMIN);
      const deleted: SecurityEvent = { type: "user.deleted", actorId: actor.user.id, target: { type: "user", id } };
      const { outcome } = await recording([deleted], () =>
        users.deleteUnlessLastActiveAdmin(id, {
          expectedVersions: precondition?.versions,
          guard: guardFor(actor, ["user:delete"], { userId: id }, now()),
        }),
      );
      if (outcome !== "deleted") throw refused(outcome);
    },
  };

  function refused(outcome: "not_found" | "last_admin" | "stale"): AppError {
    if (outcome === "not_found") return new NotFoundError(USER_NOT_FOUND);
    if (outcome === "stale") return new PreconditionFailedError();
    return new ConflictError(LAST_ADMIN);
  }

  async function checkCurrentPassword(
    id: string,
    currentPassword: string | undefined,
    what: "password" | "email",
  ): Promise<void> {
    if (currentPassword === undefined) {
      throw new ValidationError([{ path: "currentPassword", message: `Required to change your own ${what}` }]);
    }
    const credentials = await users.findCredentialsById(id);
    if (credentials)
      await limiter?.enforce(rateLimitPolicies.passwordPerAccount, await accountKey(credentials.user.email));
    const { valid } = await hasher.verify(currentPassword, credentials?.passwordHash ?? null);
    if (!valid) {
      throw new UnprocessableError("The current password (currentPassword) is wrong.", {
        securityEvent: "password_check_failed",
      });
    }
  }
}

type ProfileFields = Omit<UpdateUserInput, "currentPassword" | "password">;

/**
 * The events of a PATCH, from the user as it was and the fields sent: `user.updated` naming the
 * fields whose value changes, and the events of the changes that matter on their own.
 */
function updateEvents(actor: Actor, before: User, fields: ProfileFields, setsPassword: boolean): SecurityEvent[] {
  const target = { type: "user", id: before.id } as const;
  const event = (type: SecurityEvent["type"], data?: SecurityEvent["data"]): SecurityEvent => ({
    type,
    actorId: actor.user.id,
    target,
    data,
  });
  const changed = (Object.keys(fields) as (keyof ProfileFields)[]).filter(
    (field) => fields[field] !== undefined && fields[field] !== before[field],
  );
  const recorded: SecurityEvent[] = [];
  if (changed.length > 0) recorded.push(event("user.updated", { fields: changed }));
  if (changed.includes("role"))
    recorded.push(event("user.role_changed", { from: before.role, to: fields.role ?? null }));
  if (changed.includes("status")) {
    recorded.push(event("user.status_changed", { from: before.status, to: fields.status ?? null }));
  }
  if (changed.includes("email"))
    recorded.push(event("email.changed", { from: before.email, to: fields.email ?? null }));
  if (setsPassword) recorded.push(event("password.changed", { by: actor.user.id === before.id ? "owner" : "admin" }));
  return recorded;
}
