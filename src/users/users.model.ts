import type { UserRow } from "../db/schema";
import { newId } from "../lib/ids";

export const roles = ["admin", "member"] as const;
export const statuses = ["active", "disabled"] as const;

export type Role = (typeof roles)[number];
export type UserStatus = (typeof statuses)[number];

/** The user as the application knows it; the password hash is never part of it. */
export type User = {
  id: string;
  email: string;
  username: string;
  name: string;
  role: Role;
  status: UserStatus;
  createdAt: Date;
  updatedAt: Date;
  /** Starts at 1, bumped by every change: ETags and cache entries are derived from it. */
  version: number;
};

export type NewUser = Pick<User, "email" | "username" | "name"> & Partial<Pick<User, "role" | "status">>;

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
    createdAt: at,
    updatedAt: at,
    version: 1,
  };
}

/** The user a row describes, without its password hash. */
export function userOf({ passwordHash: _passwordHash, ...user }: UserRow): User {
  return user;
}
