import type { User } from "../users/users.model";

/** Who is making a request: the session's user as loaded with the session, in the same query. */
export type Actor = {
  sessionId: string;
  /** SHA-256 of the presented token: what revoking this session (logout) needs. */
  tokenHash: string;
  user: User;
};

export function isAdmin(actor: Actor | null): boolean {
  return actor?.user.role === "admin";
}

export function isSelf(actor: Actor | null, userId: string): boolean {
  return actor?.user.id === userId;
}
