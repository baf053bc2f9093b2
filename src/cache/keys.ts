/**
 * KV key formats. The number after the kind is the entry format: change the shape of an entry,
 * bump it, and old entries are simply never read again (they expire by their TTL).
 */
export const USER_KEY_PREFIX = "user:2:";
export const SESSION_KEY_PREFIX = "session:1:";

export const cacheKeys = {
  user: (id: string) => `${USER_KEY_PREFIX}${id}`,
  session: (tokenHash: string) => `${SESSION_KEY_PREFIX}${tokenHash}`,
};
