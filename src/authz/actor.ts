import type { User } from "../db/schema";

/** Who is making a request: the session's user as loaded with the session, in the same query. */
export type Actor = {
  sessionId: string;
  /** SHA-256 of the presented token: what revoking this session (logout) needs. */
  tokenHash: string;
  user: User;
};
