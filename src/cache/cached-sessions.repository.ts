import type { ActiveSession, SessionsRepository } from "../auth/sessions.repository";
import type { UsersRepository } from "../users/users.repository";
import { type CacheTiers, fill } from "./cached-users.repository";
import { parseCachedSession } from "./entries";
import { cacheKeys } from "./keys";

/**
 * The session check every authenticated request makes, from KV when it can: the session entry
 * (who, until when) and then the user through the cached users repository, so a role change or
 * a disabled account takes effect through the user's own entry. Never from the memory tier: a
 * logout must stop the token at once for every isolate in this location, and KV gives that.
 */
export function createCachedSessionsRepository(
  base: SessionsRepository,
  users: UsersRepository,
  tiers: CacheTiers,
): SessionsRepository {
  const { kv, purger, metrics } = tiers;

  return {
    ...base,

    async findActiveByTokenHash(tokenHash, now) {
      const key = cacheKeys.session(tokenHash);
      const cached = await kv.get(key, parseCachedSession);
      if (cached) {
        metrics.recordCache("hit-kv");
        if (cached.expiresAt <= now.getTime()) return null;
        const user = await users.findById(cached.userId);
        if (user?.status !== "active") return null;
        return { id: cached.id, expiresAt: new Date(cached.expiresAt), user } satisfies ActiveSession;
      }
      metrics.recordCache("miss");
      const readStartedAt = Date.now();
      const session = await base.findActiveByTokenHash(tokenHash, now);
      if (session) {
        // The entry expires with the session (or sooner); KV removes it by itself.
        const ttlSeconds = Math.min(tiers.kvTtlSeconds, (session.expiresAt.getTime() - now.getTime()) / 1000);
        const entry = { id: session.id, userId: session.user.id, expiresAt: session.expiresAt.getTime() };
        fill(tiers, key, entry, ttlSeconds, readStartedAt);
      }
      return session;
    },

    async revoke(session) {
      const result = await base.revoke(session);
      await purger.purge(result.staleKeys);
      return result;
    },
  };
}
