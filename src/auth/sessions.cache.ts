import { z } from "zod";
import { cacheKeys } from "../cache/keys";
import { redact } from "../cache/kv-cache";
import type { CacheTiers } from "../cache/tiers";
import { rootCauseMessage, ServiceUnavailableError } from "../lib/errors";
import { log } from "../lib/log";
import type { UsersRepository } from "../users/users.repository";
import type { ActiveSession, SessionsRepository } from "./sessions.repository";

// What KV holds for a session: who it belongs to and until when. Never the token or anything mutable.
const CachedSessionSchema = z.object({ id: z.string(), userId: z.string(), expiresAt: z.number() });
type CachedSession = z.infer<typeof CachedSessionSchema>;

function parseCachedSession(value: unknown): CachedSession | null {
  const parsed = CachedSessionSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

/**
 * The session check every authenticated request makes, from KV when it can: the session entry
 * (who, until when) and then the user through the cached users repository, so a role change or
 * a disabled account takes effect through the user's own entry.
 *
 * Only sign-in writes a session entry, before it answers; reads never fill one. So no read racing
 * a logout can put a revoked session back: the only writes to a session key are its creation,
 * which precedes any use of the token, and its deletions. Never the memory tier either: a logout
 * must stop the token at once for every isolate in this location, and KV gives that.
 */
export function createCachedSessionsRepository(
  base: SessionsRepository,
  users: UsersRepository,
  tiers: CacheTiers,
): SessionsRepository {
  const { kv, purger, metrics } = tiers;

  return {
    ...base,

    async insert(session, credentials) {
      if (!(await base.insert(session, credentials))) return false;
      const entry: CachedSession = { id: session.id, userId: session.userId, expiresAt: session.expiresAt.getTime() };
      // The entry lives as long as the session; KV removes it by itself then.
      const ttlSeconds = (session.expiresAt.getTime() - Date.now()) / 1000;
      try {
        await kv.put(cacheKeys.session(session.tokenHash), entry, ttlSeconds);
      } catch (error) {
        // The session still works, checked against D1 on every request.
        log("warn", "kv session entry not written", { error: rootCauseMessage(error) });
      }
      return true;
    },

    async findActiveByTokenHash(tokenHash, now) {
      const cached = await kv.get(cacheKeys.session(tokenHash), parseCachedSession);
      if (!cached) {
        metrics.recordCache("miss");
        return base.findActiveByTokenHash(tokenHash, now);
      }
      metrics.recordCache("hit-kv");
      if (cached.expiresAt <= now.getTime()) return null;
      const user = await users.findById(cached.userId);
      if (user?.status !== "active") return null;
      return { id: cached.id, expiresAt: new Date(cached.expiresAt), user } satisfies ActiveSession;
    },

    /**
     * The KV entry goes first: if KV will not delete it but still serves it, the token would keep
     * working, so the logout fails (503) with nothing changed. If KV cannot be read either, the
     * session check is going to D1 anyway, and deleting the row there is enough.
     */
    async revoke(session) {
      const key = cacheKeys.session(session.tokenHash);
      try {
        await kv.delete(key);
      } catch (error) {
        log("warn", "kv session purge failed", { key: redact(key), error: rootCauseMessage(error) });
        if (await kv.get(key, parseCachedSession)) {
          throw new ServiceUnavailableError("The session could not be revoked everywhere; try again shortly.");
        }
      }
      const result = await base.revoke(session);
      await purger.purge(result.staleKeys);
      return result;
    },

    // The KV entries of the revoked sessions are purged right after the batch that recorded them.
    async revokeOwned(userId, which, guard) {
      const result = await base.revokeOwned(userId, which, guard);
      await purger.purge(result.staleKeys);
      return result;
    },
  };
}
