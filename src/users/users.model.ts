import type { User, UserRow } from "../db/schema";
import { newId } from "../lib/ids";

export type NewUser = Pick<User, "email" | "username" | "name"> &
  Partial<Pick<User, "role" | "status" | "emailVerified">>;

export const USER_NOT_FOUND = "No user with this id.";

/** The row for a new user; the one place that decides ids, defaults and timestamps (API and CLIs). */
export function newUserRow(user: NewUser, passwordHash: string, at: Date): UserRow {
  return {
    id: newId(),
    email: user.email,
    username: user.username,
    name: user.name,
    role: user.role ?? "member",
    status: user.status ?? "active",
    passwordHash,
    emailVerified: user.emailVerified ?? false,
    createdAt: at,
    updatedAt: at,
    version: 1,
  };
}

/** The user a row describes, without its password hash. */
export function userOf({ passwordHash: _passwordHash, ...user }: UserRow): User {
  return user;
}
