import { and, desc, eq, exists, getTableColumns, inArray, lt, ne, or, type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { recordStaleSessions, recordStaleUser } from "../cache/outbox";
import { type Db, runBatch } from "../db/client";
import { uniqueViolationColumn } from "../db/errors";
import { guardStatement, readGuarded, type SessionGuard } from "../db/guards";
import {
  type EmailTokenPurpose,
  emailTokens,
  type Role,
  sessions,
  type User,
  type UserRow,
  type UserStatus,
  users,
} from "../db/schema";
import { ConflictError } from "../lib/errors";
import { userOf } from "./users.model";

export type UserCredentials = { user: User; passwordHash: string };

export type ListCursor = { createdAt: Date; id: string };
export type UserListFilter = {
  role?: Role | undefined;
  status?: UserStatus | undefined;
  /** Case-insensitive prefix of email, username or name. */
  q?: string | undefined;
  after?: ListCursor | undefined;
  limit: number;
};

export type UserChanges = Partial<
  Pick<UserRow, "email" | "username" | "name" | "role" | "status" | "passwordHash" | "emailVerified">
> & {
  updatedAt: Date;
};

export type UpdateOptions = {
  /** Refuse (outcome `last_admin`) when the target is the only active admin. */
  keepAnActiveAdmin?: boolean;
  /** Sessions of the user to delete in the same atomic batch, if the update lands. */
  revokeSessions?: { exceptSessionId?: string | undefined };
  /** Only write if the row is still at one of these versions (If-Match); else outcome `stale`. */
  expectedVersions?: number[] | undefined;
  /**
   * Only write while the user is active and its email is still this one (a mailed link's
   * address); else outcome `stale`.
   */
  activeWithEmail?: string | undefined;
  /** Only write while the user is active; else outcome `stale`. */
  activeOnly?: boolean;
  /** The acting session must still be live (and hold the role), checked in the write's batch. */
  guard?: SessionGuard | undefined;
};

export type DeleteOptions = Pick<UpdateOptions, "expectedVersions" | "guard">;

// Cache keys the write recorded as stale (empty unless the repository records them).
type Recorded = { staleKeys: string[] };

export type UpdateOutcome = Recorded &
  ({ outcome: "updated"; user: User } | { outcome: "not_found" | "last_admin" | "stale" });
export type DeleteOutcome = Recorded & { outcome: "deleted" | "not_found" | "last_admin" | "stale" };

export type UsersRepository = {
  /**
   * `allowStale`: the caller accepts a copy up to a few seconds old (public profiles). Without it a
   * read sees every write already made in this location (owner and admin views, authentication).
   * Only cache decorators look at it.
   */
  findById(id: string, options?: { allowStale?: boolean }): Promise<User | null>;
  findCredentialsById(id: string): Promise<UserCredentials | null>;
  findCredentialsByEmail(email: string): Promise<UserCredentials | null>;
  /** Newest first, keyset-paginated on (createdAt, id). */
  list(filter: UserListFilter, options?: { guard?: SessionGuard }): Promise<User[]>;
  /**
   * Throws ConflictError when the email or username is taken. The insert is a batch whose result
   * is the new user, so a companion of the request (an Idempotency-Key's response) commits with it.
   */
  insert(row: UserRow, options?: { guard?: SessionGuard | undefined }): Promise<User>;
  /**
   * Applies the changes and bumps the version, atomically with the session revocation asked for.
   * `emailVerified` describes the email it stands beside: a change to another email clears it in
   * the same statement, unless the changes set it themselves. Pending links that the write makes
   * unsafe go in the same batch: every reset link with a new password, a disable or another
   * email; every verification link with a disable or another email (see linksVoidedBy).
   */
  update(id: string, changes: UserChanges, options?: UpdateOptions): Promise<UpdateOutcome>;
  /** Deletes the user and its sessions, unless it is the last active admin. */
  deleteUnlessLastActiveAdmin(id: string, options?: DeleteOptions): Promise<DeleteOutcome>;
  /** Replaces the password hash only if it is still `expected` (a re-hash racing a password change loses). */
  replacePasswordHash(id: string, expected: string, replacement: string): Promise<void>;
};

export type UsersRepositoryOptions = {
  /** Record the cache keys each write makes stale, in the write's own batch (see cache/outbox.ts). */
  recordStale?: boolean;
};

// Every user column except the password hash: what reads select unless they need credentials.
const { passwordHash: _passwordHash, ...columnsWithoutHash } = getTableColumns(users);
export const userColumns = columnsWithoutHash;

// True for an active admin that is not the only one: the condition every admin-removing write carries.
// The last-admin rule is enforced inside the writing statement because a separate count would race
// with a concurrent demotion. Parenthesised as a whole: drizzle's and() does not wrap raw SQL, and a
// bare OR would widen the WHERE.
const notLastActiveAdmin = sql`(not (${users.role} = 'admin' and ${users.status} = 'active')
  or (select count(*) from ${users} where ${users.role} = 'admin' and ${users.status} = 'active') > 1)`;

export function createUsersRepository(db: Db, { recordStale = false }: UsersRepositoryOptions = {}): UsersRepository {
  // The session guard's statement, first in a write's batch: it must see the session and the role
  // as they were before the write (which may end the session or change the role itself); its
  // failure undoes the whole batch.
  const guarded = (guard: SessionGuard | undefined) => (guard ? [guardStatement(db, guard)] : []);

  async function findCredentials(where: SQL): Promise<UserCredentials | null> {
    const row = await db.select().from(users).where(where).get();
    if (!row) return null;
    const { passwordHash, ...user } = row;
    return { user, passwordHash };
  }

  // Why a write changed nothing: the row is gone, at another version, or the last active admin.
  // `active`: the write required an active user (with this email, when a string).
  async function refusal(id: string, expectedVersions: number[] | undefined, active?: string | null) {
    const row = await db
      .select({ version: users.version, email: users.email, status: users.status })
      .from(users)
      .where(eq(users.id, id))
      .get();
    if (!row) return "not_found" as const;
    if (expectedVersions && !expectedVersions.includes(row.version)) return "stale" as const;
    if (active !== undefined && ((active !== null && row.email !== active) || row.status !== "active")) {
      return "stale" as const;
    }
    return "last_admin" as const;
  }

  // The statements recording what a write to a user makes stale, to run first in its batch: the
  // user's entry if `target` (the write's own WHERE) matches, and the sessions it will delete.
  function staleRecords(target: SQL | undefined, sessionsGoing: SQL | undefined, at: Date): BatchItem<"sqlite">[] {
    if (!recordStale) return [];
    const records: BatchItem<"sqlite">[] = [recordStaleUser(db, target, at)];
    if (sessionsGoing) {
      const landing = exists(db.select({ id: users.id }).from(users).where(target));
      records.push(recordStaleSessions(db, and(sessionsGoing, landing), at));
    }
    return records;
  }

  // The links a write to the user voids, as a statement that runs only if the write lands.
  function voidLinks(id: string, changes: UserChanges, target: SQL | undefined): BatchItem<"sqlite">[] {
    const purposes = linksVoidedBy(changes);
    if (purposes.length === 0) return [];
    const newEmail = changes.email;
    const landing = exists(
      db
        .select({ id: users.id })
        .from(users)
        // An "email change" to the same address changes nothing a link depends on.
        .where(
          and(
            target,
            newEmail !== undefined && changes.passwordHash === undefined && changes.status !== "disabled"
              ? ne(users.email, newEmail)
              : undefined,
          ),
        ),
    );
    return [
      db.delete(emailTokens).where(and(eq(emailTokens.userId, id), inArray(emailTokens.purpose, purposes), landing)),
    ];
  }

  return {
    async findById(id) {
      return (await db.select(userColumns).from(users).where(eq(users.id, id)).get()) ?? null;
    },

    findCredentialsById(id) {
      return findCredentials(eq(users.id, id));
    },

    findCredentialsByEmail(email) {
      return findCredentials(eq(users.email, email));
    },

    async list({ role, status, q, after, limit }, { guard } = {}) {
      const conditions: (SQL | undefined)[] = [
        role ? eq(users.role, role) : undefined,
        status ? eq(users.status, status) : undefined,
        after
          ? or(lt(users.createdAt, after.createdAt), and(eq(users.createdAt, after.createdAt), lt(users.id, after.id)))
          : undefined,
      ];
      if (q) {
        const pattern = `${escapeLike(q)}%`;
        conditions.push(
          sql`(${users.email} like ${pattern} escape '\\' or ${users.username} like ${pattern} escape '\\' or ${users.name} like ${pattern} escape '\\')`,
        );
      }
      const query = db
        .select(userColumns)
        .from(users)
        .where(and(...conditions))
        .orderBy(desc(users.createdAt), desc(users.id))
        .limit(limit);
      if (!guard) return query.all();
      // The guard's check rides in the same round trip.
      return readGuarded<User[]>(db, guard, query);
    },

    async insert(row, { guard } = {}) {
      const user = userOf(row);
      try {
        await runBatch(db, [...guarded(guard), db.insert(users).values(row)], { result: user });
      } catch (error) {
        throw toConflict(error);
      }
      return user;
    },

    async update(id, changes, options = {}) {
      const { keepAnActiveAdmin, revokeSessions, expectedVersions, activeWithEmail, activeOnly, guard } = options;
      const target = and(
        eq(users.id, id),
        keepAnActiveAdmin ? notLastActiveAdmin : undefined,
        expectedVersions ? inArray(users.version, expectedVersions) : undefined,
        activeWithEmail !== undefined ? and(eq(users.email, activeWithEmail), eq(users.status, "active")) : undefined,
        activeOnly ? eq(users.status, "active") : undefined,
      );
      // In SET, users.email is still the old value: the flag survives only an unchanged email.
      const emailVerified =
        changes.email !== undefined && changes.emailVerified === undefined
          ? sql`case when ${users.email} = ${changes.email} then ${users.emailVerified} else 0 end`
          : changes.emailVerified;
      const update = db
        .update(users)
        .set({ ...changes, emailVerified, version: sql`${users.version} + 1` })
        .where(target)
        .returning(userColumns);
      const revoked = revokeSessions
        ? and(
            eq(sessions.userId, id),
            revokeSessions.exceptSessionId ? ne(sessions.id, revokeSessions.exceptSessionId) : undefined,
          )
        : undefined;
      const guards = guarded(guard);
      const records = staleRecords(target, revoked, changes.updatedAt);
      // Before the update, under its own condition: whether the update lands is decided by the
      // same WHERE, evaluated on the same row, in the same transaction.
      const voiding = voidLinks(id, changes, target);
      const statements: BatchItem<"sqlite">[] = [...guards, ...records, ...voiding, update];
      if (revoked) {
        // Only revoke if the update landed. SQLite's changes() is the row count of the statement
        // completed just before this one on the batch's connection: the update. (Comparing the row
        // to what the update wrote is not enough: a refused update can match a row written in the
        // same millisecond.)
        const landed = sql`changes() > 0`;
        statements.push(db.delete(sessions).where(and(revoked, landed)));
      }
      let results: unknown[];
      try {
        // The update decides whether the write lands: what joins it only if it does runs after it.
        results = await runBatch(db, statements, { landing: update });
      } catch (error) {
        throw toConflict(error);
      }
      const staleKeys = keysFrom(results.slice(guards.length, guards.length + records.length));
      const [updated] = results[guards.length + records.length + voiding.length] as User[];
      if (updated) return { outcome: "updated", user: updated, staleKeys };
      return {
        outcome: await refusal(id, expectedVersions, activeWithEmail ?? (activeOnly ? null : undefined)),
        staleKeys,
      };
    },

    async deleteUnlessLastActiveAdmin(id, { expectedVersions, guard } = {}) {
      const target = and(
        eq(users.id, id),
        notLastActiveAdmin,
        expectedVersions ? inArray(users.version, expectedVersions) : undefined,
      );
      const records = staleRecords(target, eq(sessions.userId, id), new Date());
      // Explicit rather than by cascade: libSQL enforces foreign keys only where the connection
      // turned them on, D1 always. Guarded like the user's own delete.
      const landing = exists(db.select({ id: users.id }).from(users).where(target));
      const endSessions = db.delete(sessions).where(and(eq(sessions.userId, id), landing));
      const voidLinks = db.delete(emailTokens).where(and(eq(emailTokens.userId, id), landing));
      const remove = db.delete(users).where(target).returning({ id: users.id });
      const guards = guarded(guard);
      const results = await runBatch(db, [...guards, ...records, endSessions, voidLinks, remove], { landing: remove });
      const staleKeys = keysFrom(results.slice(guards.length, guards.length + records.length));
      if ((results[guards.length + records.length + 2] as unknown[]).length > 0)
        return { outcome: "deleted", staleKeys };
      return { outcome: await refusal(id, expectedVersions), staleKeys };
    },

    async replacePasswordHash(id, expected, replacement) {
      await db
        .update(users)
        .set({ passwordHash: replacement })
        .where(and(eq(users.id, id), eq(users.passwordHash, expected)))
        .run();
    },
  };
}

/**
 * Which pending links a write makes unsafe. A reset link is good only for the password, status and
 * address it was issued under: whoever holds an old mail must not take the account back after the
 * owner changed the password, an admin set one, the account was disabled (and enabled again), or
 * the email moved away (and back). A verification link proves an address only while the account
 * is active with it. Undo links (sent to the address an email change replaced) survive all of these:
 * they are the owner's way back after a takeover that changed the password too.
 */
function linksVoidedBy(changes: Pick<UserChanges, "passwordHash" | "status" | "email">): EmailTokenPurpose[] {
  const disables = changes.status === "disabled";
  const movesEmail = changes.email !== undefined;
  const purposes: EmailTokenPurpose[] = [];
  if (changes.passwordHash !== undefined || disables || movesEmail) purposes.push("reset_password");
  if (disables || movesEmail) purposes.push("verify_email");
  return purposes;
}

// The unique indexes are the only race-free duplicate check, so the violation itself is what
// becomes the 409: two concurrent sign-ups with one email cannot both pass a SELECT-then-INSERT.
function toConflict(error: unknown): unknown {
  const column = uniqueViolationColumn(error);
  if (column === "email" || column === "username")
    return new ConflictError(`A user with this ${column} already exists.`);
  return error;
}

function keysFrom(results: unknown[]): string[] {
  return (results as { key: string }[][]).flat().map((row) => row.key);
}

// Escapes LIKE wildcards so user input only ever matches literally (used with `escape '\'`).
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}
