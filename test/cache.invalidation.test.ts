import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { cacheKeys } from "../src/cache/keys";
import { readConfig } from "../src/env";
import { RequestMetrics } from "../src/lib/metrics";
import { hashSessionToken } from "../src/lib/tokens";
import { createServices } from "../src/services";
import { isolate, PASSWORD, seedSession, seedUser, serverTiming, signedIn } from "./helpers";

afterEach(() => vi.restoreAllMocks());

const NEW_PASSWORD = "another long passphrase";

/** Reads a public profile in an isolate twice, so both its memory tier and KV hold it. */
async function warm(worker: ReturnType<typeof isolate>, id: string) {
  await worker.fetch("GET", `/api/users/${id}`);
  const res = await worker.fetch("GET", `/api/users/${id}`);
  expect(serverTiming(res).cache).toEqual({ desc: "hit-memory" });
}

async function stalePurgeRows() {
  return (await env.DB.prepare("select key from stale_purges").all<{ key: string }>()).results.map((row) => row.key);
}

describe("every write purges what it made stale, in every tier it reaches", () => {
  it("PATCH (name) → the writing isolate and every other one read the new profile at once", async () => {
    const { user, token } = await signedIn("member");
    const [writer, other] = [isolate(), isolate()];
    await warm(writer, user.id);
    await isolate().fetch("GET", `/api/users/${user.id}`);

    expect((await writer.fetch("PATCH", `/api/users/${user.id}`, { token, body: { name: "Renamed" } })).status).toBe(
      200,
    );
    expect(await (await writer.fetch("GET", `/api/users/${user.id}`)).json()).toMatchObject({ name: "Renamed" });
    expect(await (await other.fetch("GET", `/api/users/${user.id}`)).json()).toMatchObject({ name: "Renamed" });
    expect(await stalePurgeRows()).toEqual([]);
  });

  it("DELETE → 404 from every isolate, and the user's tokens stop working", async () => {
    const { user, token } = await signedIn("member");
    const [writer, other] = [isolate(), isolate()];
    await warm(writer, user.id);
    await other.fetch("GET", "/api/auth/me", { token });
    expect((await writer.fetch("DELETE", `/api/users/${user.id}`, { token })).status).toBe(204);
    expect((await writer.fetch("GET", `/api/users/${user.id}`)).status).toBe(404);
    expect((await isolate().fetch("GET", `/api/users/${user.id}`)).status).toBe(404);
    expect((await other.fetch("GET", "/api/auth/me", { token })).status).toBe(401);
    expect(await env.CACHE.get(cacheKeys.user(user.id))).toBeNull();
  });

  it("disable → the user's cached sessions stop working at once, everywhere, and stay dead after re-enabling", async () => {
    const { user, token } = await signedIn("member");
    const { token: adminToken } = await signedIn("admin");
    const other = isolate();
    expect((await other.fetch("GET", "/api/auth/me", { token })).status).toBe(200);
    expect((await other.fetch("GET", "/api/auth/me", { token })).status).toBe(200);

    const disable = { token: adminToken, body: { status: "disabled" } };
    expect((await isolate().fetch("PATCH", `/api/users/${user.id}`, disable)).status).toBe(200);
    expect((await other.fetch("GET", "/api/auth/me", { token })).status).toBe(401);

    const enable = { token: adminToken, body: { status: "active" } };
    expect((await isolate().fetch("PATCH", `/api/users/${user.id}`, enable)).status).toBe(200);
    expect((await other.fetch("GET", "/api/auth/me", { token })).status).toBe(401);
  });

  it("role change → takes effect on the very next request, from the cached session", async () => {
    const { user, token } = await signedIn("member");
    const { token: adminToken } = await signedIn("admin");
    const other = isolate();
    expect((await other.fetch("GET", "/api/users", { token })).status).toBe(403);
    await isolate().fetch("PATCH", `/api/users/${user.id}`, { token: adminToken, body: { role: "admin" } });
    expect((await other.fetch("GET", "/api/users", { token })).status).toBe(200);
    await isolate().fetch("PATCH", `/api/users/${user.id}`, { token: adminToken, body: { role: "member" } });
    expect((await other.fetch("GET", "/api/users", { token })).status).toBe(403);
  });

  it("logout → that token fails at once in every isolate; the session's KV entry is gone", async () => {
    const { token } = await signedIn("member");
    const other = isolate();
    await other.fetch("GET", "/api/auth/me", { token });
    expect((await other.fetch("GET", "/api/auth/me", { token })).status).toBe(200);
    expect((await isolate().fetch("POST", "/api/auth/logout", { token })).status).toBe(204);
    expect((await other.fetch("GET", "/api/auth/me", { token })).status).toBe(401);
    expect(await env.CACHE.get(cacheKeys.session(await hashSessionToken(token)))).toBeNull();
  });

  it("password change → the other cached sessions fail at once; the one that made the change keeps working", async () => {
    const { user, token } = await signedIn("member");
    const second = await seedSession(user);
    const other = isolate();
    await other.fetch("GET", "/api/auth/me", { token: second.token });
    expect((await other.fetch("GET", "/api/auth/me", { token: second.token })).status).toBe(200);
    const change = { token, body: { password: NEW_PASSWORD, currentPassword: PASSWORD } };
    expect((await isolate().fetch("PATCH", `/api/users/${user.id}`, change)).status).toBe(200);
    expect((await other.fetch("GET", "/api/auth/me", { token: second.token })).status).toBe(401);
    expect((await other.fetch("GET", "/api/auth/me", { token })).status).toBe(200);
  });
});

describe("read-your-writes across the tiers", () => {
  it("the writer's own reads after a PATCH — /me, its full view, its public profile — all show the write", async () => {
    const { user, token } = await signedIn("member");
    const [a, b] = [isolate(), isolate()];
    // Fill every tier with the old state: sessions and users in KV, profiles in both memories.
    for (const worker of [a, b]) {
      await warm(worker, user.id);
      await worker.fetch("GET", "/api/auth/me", { token });
      await worker.fetch("GET", `/api/users/${user.id}`, { token });
    }
    const patch = await a.fetch("PATCH", `/api/users/${user.id}`, { token, body: { name: "Written" } });
    expect(patch.headers.get("ETag")).toBe('"v2"');
    for (const worker of [a, b]) {
      expect(await (await worker.fetch("GET", "/api/auth/me", { token })).json()).toMatchObject({ name: "Written" });
      expect(await (await worker.fetch("GET", `/api/users/${user.id}`, { token })).json()).toMatchObject({
        name: "Written",
      });
    }
    // The writer's isolate dropped its memory copy; another isolate may keep its copy for at most
    // MEMORY_CACHE_TTL_SECONDS (the documented bound), which is why owners never read from memory.
    expect(await (await a.fetch("GET", `/api/users/${user.id}`)).json()).toMatchObject({ name: "Written" });
  });
});

describe("stale fills and failed purges cannot outlive a write", () => {
  it("an entry a racing read put into KV during the write is removed by the second purge", async () => {
    const { user, token } = await signedIn("member");
    const writer = isolate({ CACHE_REPURGE_DELAY_MS: "50" });
    const stale = JSON.stringify({ ...user, createdAt: 0, updatedAt: 0, name: "Stale", version: 1 });
    const { app } = await import("../src/app");
    const { createExecutionContext, waitOnExecutionContext } = await import("cloudflare:test");
    const ctx = createExecutionContext();
    const bindings = { ...env, CACHE_REPURGE_DELAY_MS: "50" };
    const res = await app.fetch(
      new Request(`http://x/api/users/${user.id}`, {
        method: "PATCH",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ name: "Fresh" }),
      }),
      bindings,
      ctx,
    );
    expect(res.status).toBe(200);
    // The race: a read that began before the write commits fills KV after the first purge.
    await env.CACHE.put(cacheKeys.user(user.id), stale);
    await waitOnExecutionContext(ctx);
    expect(await env.CACHE.get(cacheKeys.user(user.id))).toBeNull();
    expect(await (await writer.fetch("GET", `/api/users/${user.id}`)).json()).toMatchObject({ name: "Fresh" });
  });

  it("a read whose database answer came too late does not fill KV", async () => {
    const { createCachedUsersRepository } = await import("../src/cache/cached-users.repository");
    const { createKvCache } = await import("../src/cache/kv-cache");
    const { createMemoryCache } = await import("../src/cache/memory-cache");
    const { usersRepository } = await import("./helpers");
    const user = await seedUser();
    const slow = {
      ...usersRepository,
      findById: async (id: string) => {
        await new Promise((resolve) => setTimeout(resolve, 1100));
        return usersRepository.findById(id);
      },
    };
    const deferred: Promise<unknown>[] = [];
    const cached = createCachedUsersRepository(slow, {
      memory: createMemoryCache({ maxEntries: 10, ttlMs: 5000 }),
      kv: createKvCache(env.CACHE, { readTimeoutMs: 300 }),
      purger: { purge: async () => {}, drain: async () => 0 },
      metrics: new RequestMetrics(),
      defer: (task) => deferred.push(task),
      kvTtlSeconds: 3600,
      fillWindowMs: 1000,
    });
    expect(await cached.findById(user.id)).toMatchObject({ id: user.id });
    await Promise.all(deferred);
    expect(await env.CACHE.get(cacheKeys.user(user.id))).toBeNull();
  });

  it("with KV refusing writes, the write still succeeds; its purge waits in the outbox and the cron finishes it", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const { user, token } = await signedIn("member");
    await isolate().fetch("GET", `/api/users/${user.id}`);
    const refusing = {
      get: (key: string, type: "json") => env.CACHE.get(key, type),
      put: () => Promise.reject(new Error("KV PUT failed: 503")),
      delete: () => Promise.reject(new Error("KV DELETE failed: 503")),
    } as unknown as KVNamespace;
    const res = await isolate({ CACHE: refusing }).fetch("PATCH", `/api/users/${user.id}`, {
      token,
      body: { name: "During outage" },
    });
    expect(res.status).toBe(200);
    expect(await stalePurgeRows()).toEqual([cacheKeys.user(user.id)]);

    // KV is back; the cron drains the outbox.
    const services = createServices({
      env,
      config: readConfig(env),
      metrics: new RequestMetrics(),
      defer: () => {},
    });
    expect(await services.purger?.drain(new Date(Date.now() + 60_000))).toBe(1);
    expect(await stalePurgeRows()).toEqual([]);
    expect(await (await isolate().fetch("GET", `/api/users/${user.id}`)).json()).toMatchObject({
      name: "During outage",
    });
  });

  it("a refused write (412) records nothing to purge", async () => {
    const { user, token } = await signedIn("member");
    const res = await isolate().fetch("PATCH", `/api/users/${user.id}`, {
      token,
      body: { name: "x" },
      headers: { "If-Match": '"v99"' },
    });
    expect(res.status).toBe(412);
    expect(await stalePurgeRows()).toEqual([]);
  });
});
