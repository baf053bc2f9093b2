/**
 * The session check at its edges: the exact moment a session ends (when KV decides and when D1
 * does), a KV entry that outlives its session, a user disabled behind the cache's back, and an
 * admin's full read in an isolate that holds an older public copy.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createAuthService } from "../src/auth/auth.service";
import { createCachedSessionsRepository } from "../src/auth/sessions.cache";
import { createSessionsRepository } from "../src/auth/sessions.repository";
import { cacheKeys } from "../src/cache/keys";
import { createKvCache } from "../src/cache/kv-cache";
import { createMemoryCache } from "../src/cache/memory-cache";
import type { CacheTiers } from "../src/cache/tiers";
import { createD1Database } from "../src/db/d1";
import type { User } from "../src/db/schema";
import { UnauthorizedError } from "../src/lib/errors";
import { RequestMetrics } from "../src/lib/metrics";
import { hashToken } from "../src/lib/tokens";
import { createCachedUsersRepository } from "../src/users/users.cache";
import { createUsersRepository } from "../src/users/users.repository";
import { accessTokens, hasher, PASSWORD, seedUser, signedIn, signedInThroughApi } from "./helpers/fixtures";
import { api, apiWith, isolate } from "./helpers/http";

afterEach(() => vi.restoreAllMocks());

const db = createD1Database(env.DB);

// The auth service over the plain repositories (D1 decides) or the cached ones (KV decides when it
// holds the session), with the clock where the test puts it.
function authAt(now: Date, { cached }: { cached: boolean }) {
  const users = createUsersRepository(db, { recordStale: cached });
  const sessions = createSessionsRepository(db, { recordStale: cached });
  if (!cached)
    return createAuthService({
      users,
      sessions,
      hasher,
      accessTokens: accessTokens(),
      config: { sessionTtlSeconds: 3600, requireEmailVerification: false },
      now: () => now,
    });
  const tiers: CacheTiers = {
    memory: createMemoryCache<User>({ maxEntries: 10, ttlMs: 5000 }),
    kv: createKvCache(env.CACHE, { readTimeoutMs: 300 }),
    purger: { purge: async () => {}, drain: async () => 0 },
    metrics: new RequestMetrics(),
    defer: () => {},
    kvTtlSeconds: 3600,
    fillWindowMs: 1000,
  };
  const cachedUsers = createCachedUsersRepository(users, tiers);
  return createAuthService({
    users: cachedUsers,
    sessions: createCachedSessionsRepository(sessions, cachedUsers, tiers),
    hasher,
    accessTokens: accessTokens(),
    config: { sessionTtlSeconds: 3600, requireEmailVerification: false },
    now: () => now,
  });
}

describe("a session ends exactly at its expiresAt", () => {
  it.each([
    ["D1 decides", false],
    ["KV decides", true],
  ])("%s: a millisecond before it the token works; at it, 401", async (_, cached) => {
    const user = await seedUser();
    const signedInAt = new Date();
    const { token, expiresAt } = await authAt(signedInAt, { cached }).login(user.email, PASSWORD);
    const kvEntry = await env.CACHE.get(cacheKeys.session(await hashToken(token)));
    expect(kvEntry !== null).toBe(cached);

    const justBefore = new Date(expiresAt.getTime() - 1);
    expect((await authAt(justBefore, { cached }).authenticate(token)).user.id).toBe(user.id);
    await expect(authAt(expiresAt, { cached }).authenticate(token)).rejects.toBeInstanceOf(UnauthorizedError);
  });
});

describe("what KV holds is not the last word", () => {
  it("a KV session entry whose expiresAt has passed is refused while KV still holds it", async () => {
    const { user, token } = await signedInThroughApi();
    const key = cacheKeys.session(await hashToken(token));
    const entry = JSON.parse((await env.CACHE.get(key)) as string) as { expiresAt: number };
    // KV keeps entries at least 60 s: an entry can outlive the session it describes.
    await env.CACHE.put(key, JSON.stringify({ ...entry, expiresAt: Date.now() - 1000 }), { expirationTtl: 120 });
    expect(await env.CACHE.get(key)).not.toBeNull();
    const res = await api("GET", "/api/auth/me", { token });
    expect(res.status).toBe(401);
    expect(user.id).toBeTruthy();
  });

  it("a token whose KV session entry is intact, of a user disabled behind update()'s back, is refused", async () => {
    const { user, token } = await signedInThroughApi();
    expect((await api("GET", "/api/auth/me", { token })).status).toBe(200);
    await env.DB.prepare("update users set status = 'disabled' where id = ?").bind(user.id).run();
    await env.CACHE.delete(cacheKeys.user(user.id));
    expect(await env.CACHE.get(cacheKeys.session(await hashToken(token)))).not.toBeNull();
    expect((await api("GET", "/api/auth/me", { token })).status).toBe(401);
  });

  it("a token whose KV session entry survived a failed purge, of a user disabled through the API, is refused", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const { user, token } = await signedInThroughApi();
    const { token: adminToken } = await signedIn("admin");
    // KV refuses to delete session entries (the user's own entry still goes).
    const sessionDeletesFail = {
      ...env.CACHE,
      get: env.CACHE.get.bind(env.CACHE),
      put: env.CACHE.put.bind(env.CACHE),
      delete: (key: string) =>
        key.startsWith("session:") ? Promise.reject(new Error("KV DELETE failed: 503")) : env.CACHE.delete(key),
    } as KVNamespace;
    const disable = await apiWith({ CACHE: sessionDeletesFail }, "PATCH", `/api/users/${user.id}`, {
      token: adminToken,
      body: { status: "disabled" },
    });
    expect(disable.status, await disable.clone().text()).toBe(200);
    expect(await env.CACHE.get(cacheKeys.session(await hashToken(token)))).not.toBeNull();
    expect((await api("GET", "/api/auth/me", { token })).status).toBe(401);
  });
});

describe("isolates with older copies", () => {
  it("an admin's full read in an isolate holding a stale public copy sees the write", async () => {
    const { user: admin, token: adminToken } = await signedIn("admin");
    const { user, token } = await signedIn("member");
    const second = isolate();
    // The second isolate holds the user's public profile in memory.
    await second.fetch("GET", `/api/users/${user.id}`);
    await second.fetch("GET", `/api/users/${user.id}`);
    // The owner renames themself through another isolate.
    expect((await isolate().fetch("PATCH", `/api/users/${user.id}`, { token, body: { name: "Renamed" } })).status).toBe(
      200,
    );
    const full = await second.fetch("GET", `/api/users/${user.id}`, { token: adminToken });
    expect(await full.json()).toMatchObject({ name: "Renamed", email: user.email });
    expect(admin.role).toBe("admin");
  });
});
