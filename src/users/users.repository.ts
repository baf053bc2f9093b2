import { and, desc, eq, getTableColumns, lt, ne, or, type SQL, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { uniqueViolationColumn } from "../db/errors";
import { type NewUserRow, sessions, type UserRow, users } from "../db/schema";
import { ConflictError } from "../lib/errors";

import type { Role, User, UserStatus } from "./users.model";

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

export type UserChanges = Partial<Pick<UserRow, "email" | "username" | "name" | "role" | "status" | "passwordHash">> & {
  updatedAt: Date;
};

export type UpdateOptions = {
  /** Refuse (outcome `last_admin`) when the target is the only active admin. */
  keepAnActiveAdmin?: boolean;
  /** Sessions of the user to delete in the same atomic batch, if the update lands. */
  revokeSessions?: { exceptSessionId?: string | undefined };
};

export type UpdateOutcome = { outcome: "updated"; user: User } | { outcome: "not_found" } | { outcome: "last_admin" };
export type DeleteOutcome = "deleted" | "not_found" | "last_admin";

export type UsersRepository = {
  findById(id: string): Promise<User | null>;
  findCredentialsById(id: string): Promise<UserCredentials | null>;
  findCredentialsByEmail(email: string): Promise<UserCredentials | null>;
  /** Newest first, keyset-paginated on (createdAt, id). */
  list(filter: UserListFilter): Promise<User[]>;
  /** Throws ConflictError when the email or username is taken. */
  insert(row: NewUserRow): Promise<User>;
  update(id: string, changes: UserChanges, options?: UpdateOptions): Promise<UpdateOutcome>;
  /** Deletes the user (sessions go with it by cascade), unless it is the last active admin. */
  deleteUnlessLastActiveAdmin(id: string): Promise<DeleteOutcome>;
  /** Replaces the password hash only if it is still `expected` (a re-hash racing a password change loses). */
  replacePasswordHash(id: string, expected: string, replacement: string): Promise<void>;
};

/** Every user column except the password hash: what reads select unless they need credentials. */
const { passwordHash: _passwordHash, ...columnsWithoutHash } = getTableColumns(users);
export const userColumns = columnsWithoutHash;

/** True for an active admin that is not the only one: the condition every admin-removing write carries. */
// The last-admin rule is enforced inside the writing statement because a separate count would race
// with a concurrent demotion. Parenthesised as a whole: drizzle's and() does not wrap raw SQL, and a
// bare OR would widen the WHERE.
const notLastActiveAdmin = sql`(not (${users.role} = 'admin' and ${users.status} = 'active')
  or (select count(*) from ${users} where ${users.role} = 'admin' and ${users.status} = 'active') > 1)`;

export function createUsersRepository(db: Db): UsersRepository {
  async function findCredentials(where: SQL): Promise<UserCredentials | null> {
    const row = await db.select().from(users).where(where).get();
    if (!row) return null;
    const { passwordHash, ...user } = row;
    return { user, passwordHash };
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

    async list({ role, status, q, after, limit }) {
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
      return db
        .select(userColumns)
        .from(users)
        .where(and(...conditions))
        .orderBy(desc(users.createdAt), desc(users.id))
        .limit(limit)
        .all();
    },

    async insert(row) {
      try {
        return await db.insert(users).values(row).returning(userColumns).get();
      } catch (error) {
        throw toConflict(error);
      }
    },

    async update(id, changes, options = {}) {
      const guard = options.keepAnActiveAdmin ? notLastActiveAdmin : undefined;
      const update = db
        .update(users)
        .set(changes)
        .where(and(eq(users.id, id), guard))
        .returning(userColumns);
      let updated: User | undefined;
      try {
        if (options.revokeSessions) {
          // Only revoke if the update landed: the predicate reads the row the update just wrote.
          const landed = changes.passwordHash
            ? sql`(select ${users.passwordHash} from ${users} where ${users.id} = ${id}) = ${changes.passwordHash}`
            : sql`(select ${users.updatedAt} from ${users} where ${users.id} = ${id}) = ${changes.updatedAt.getTime()}`;
          const except = options.revokeSessions.exceptSessionId;
          const revoke = db
            .delete(sessions)
            .where(and(eq(sessions.userId, id), except ? ne(sessions.id, except) : undefined, landed));
          const [rows] = await db.batch([update, revoke]);
          updated = rows[0];
        } else {
          updated = await update.get();
        }
      } catch (error) {
        throw toConflict(error);
      }
      if (updated) return { outcome: "updated", user: updated };
      const exists = await db.select({ id: users.id }).from(users).where(eq(users.id, id)).get();
      return exists ? { outcome: "last_admin" } : { outcome: "not_found" };
    },

    async deleteUnlessLastActiveAdmin(id) {
      const deleted = await db
        .delete(users)
        .where(and(eq(users.id, id), notLastActiveAdmin))
        .returning({ id: users.id })
        .get();
      if (deleted) return "deleted";
      const exists = await db.select({ id: users.id }).from(users).where(eq(users.id, id)).get();
      return exists ? "last_admin" : "not_found";
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
 * The unique indexes are the only race-free duplicate check, so the violation itself is what
 * becomes the 409: two concurrent sign-ups with one email cannot both pass a SELECT-then-INSERT.
 */
function toConflict(error: unknown): unknown {
  const column = uniqueViolationColumn(error);
  if (column === "email" || column === "username")
    return new ConflictError(`A user with this ${column} already exists.`);
  return error;
}

/** Escapes LIKE wildcards so user input only ever matches literally (used with `escape '\'`). */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}
