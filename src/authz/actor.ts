import type { User } from "../db/schema";

/**
 * Who is making a request, and how it proved it.
 *
 * - With a session token, the session was looked up: `user` is the session's user as loaded with
 *   it (from KV, or D1), and `credential` carries the token's hash (what revoking it needs).
 * - With an access token, the session was not looked up: `user` holds what the token's claims
 *   say (id, role, email verified), as they were when it was issued, and `credential.user` the
 *   user read through the cache (active, or the token was refused). Anything that writes, lists
 *   users or rests on the admin role checks the session and the current role in D1 (guardFor).
 */
export type Actor = {
  sessionId: string;
  user: ActorUser;
  credential:
    | { kind: "session"; tokenHash: string; user: User }
    | { kind: "access-token"; expiresAt: Date; user: User };
};

export type ActorUser = Pick<User, "id" | "role" | "emailVerified">;
