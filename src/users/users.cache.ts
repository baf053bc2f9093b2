import { z } from "zod";
import { cacheKeys } from "../cache/keys";
import { redact } from "../cache/kv-cache";
import type { CacheTiers } from "../cache/tiers";
import { roles, statuses, type User } from "../db/schema";
import { rootCauseMessage } from "../lib/errors";
import { log } from "../lib/log";
import type { UsersRepository } from "./users.repository";

// What KV holds for a user: the user without its password hash (never cached), dates as epoch ms.
const CachedUserSchema = z.object({
  id: z.string(),
  email: z.string(),
  username: z.string(),
  name: z.string(),
  role: z.enum(roles),
  status: z.enum(statuses),
  emailVerified: z.boolean(),
  createdAt: z.number(),
  updatedAt: z.number(),
  version: z.number().int(),
});

function toCachedUser(user: User): z.infer<typeof CachedUserSchema> {
  return { ...user, createdAt: user.createdAt.getTime(), updatedAt: user.updatedAt.getTime() };
}

function parseCachedUser(value: unknown): User | null {
  const parsed = CachedUserSchema.safeParse(value);
  if (!parsed.success) return null;
  return { ...parsed.data, createdAt: new Date(parsed.data.createdAt), updatedAt: new Date(parsed.data.updatedAt) };
}

/**
 * Users by id through three tiers: this isolate's memory (only for reads that accept a copy a few
 * seconds old), then KV, then the database. Writes go to the database, then purge what they made
 * stale (recorded in the same batch, so a purge that fails now happens later). Everything else
 * passes straight through; nothing with a password hash is ever cached.
 */
export function createCachedUsersRepository(base: UsersRepository, tiers: CacheTiers): UsersRepository {
  const { memory, kv, purger, metrics } = tiers;

  return {
    ...base,

    async findById(id, options = {}) {
      const key = cacheKeys.user(id);
      if (options.allowStale) {
        const remembered = memory.get(key);
        if (remembered) {
          metrics.recordCache("hit-memory");
          return remembered;
        }
      }
      const cached = await kv.get(key, parseCachedUser);
      if (cached) {
        metrics.recordCache("hit-kv");
        memory.set(key, cached);
        return cached;
      }
      metrics.recordCache("miss");
      const readStartedAt = Date.now();
      const user = await base.findById(id);
      if (user && Date.now() - readStartedAt <= tiers.fillWindowMs) {
        memory.set(key, user);
        fill(tiers, key, toCachedUser(user), tiers.kvTtlSeconds, readStartedAt);
      }
      return user;
    },

    async update(id, changes, options) {
      const result = await base.update(id, changes, options);
      await purger.purge(result.staleKeys);
      return result;
    },

    async deleteUnlessLastActiveAdmin(id, options) {
      const result = await base.deleteUnlessLastActiveAdmin(id, options);
      await purger.purge(result.staleKeys);
      return result;
    },
  };
}

// Puts a value read from the database into KV after the response, unless the read is too old.
function fill(tiers: CacheTiers, key: string, value: unknown, ttlSeconds: number, readStartedAt: number) {
  tiers.defer(
    (async () => {
      if (Date.now() - readStartedAt > tiers.fillWindowMs) return;
      await tiers.kv.put(key, value, ttlSeconds);
      log("debug", "cache filled", { key: redact(key), ttlSeconds });
    })().catch((error) => {
      // A missed fill only costs a database read later.
      log("warn", "kv fill failed", { key: redact(key), error: rootCauseMessage(error) });
    }),
  );
}
