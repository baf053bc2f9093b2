import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { cacheKeys } from "../src/cache/keys";
import { createKvCache } from "../src/cache/kv-cache";
import { createMemoryCache } from "../src/cache/memory-cache";
import { createServices } from "../src/composition";
import { readConfig } from "../src/config";
import { d1Backend } from "../src/db/d1";
import type { User } from "../src/db/schema";
import worker from "../src/index";
import { RequestMetrics } from "../src/lib/metrics";
import { hashToken } from "../src/lib/tokens";
import { createCachedUsersRepository } from "../src/users/users.cache";
import { PASSWORD, seedUser, signedInThroughApi, usersRepository } from "./helpers/fixtures";
import { apiWith, expectProblem, isolate, serverTiming } from "./helpers/http";

afterEach(() => vi.restoreAllMocks());

const NEW_PASSWORD = "another long passphrase";

/** Reads a public profile in an isolate twice, so both its memory tier and KV hold it. */
async function warm(worker: ReturnType<typeof isolate>, id: string) {
  await worker.fetch("GET", `/api/users/${id}`);
  const res = await worker.fetch("GET", `/api/users/${id}`);
  expect(serverTiming(res).cache).toEqual({ desc: "hit-memory" });
}

async function pendingPurges(prefix: string) {
  const rows = await env.DB.prepare("select key from stale_purges where key like ?").bind(`${prefix}%`).all<{
    key: string;
  }>();
  return rows.results.map((row) => row.key);
}

const sessionKey = async (token: string) => cacheKeys.session(await hashToken(token));

describe("every write purges what it made stale, in every tier it reaches", () => {
  it("PATCH → the writer's isolate reads the new profile at once; any isolate's next KV read does too", async () => {
    const { user, token } = await signedInThroughApi("member");
    const [writer, other] = [isolate(), isolate()];
    await warm(writer, user.id);
    await other.fetch("GET", `/api/users/${user.id}`, { token }); // the owner's view: KV, not memory
    expect(await env.CACHE.get(cacheKeys.user(user.id))).not.toBeNull();

    const patch = await writer.fetch("PATCH", `/api/users/${user.id}`, { token, body: { name: "Renamed" } });
    expect(patch.status).toBe(200);
    expect(await (await writer.fetch("GET", `/api/users/${user.id}`)).json()).toMatchObject({ name: "Renamed" });
    expect(await (await other.fetch("GET", `/api/users/${user.id}`, { token })).json()).toMatchObject({
      name: "Renamed",
    });
    // The key stays in the outbox for the cron's third purge.
    expect(await pendingPurges(cacheKeys.user(user.id))).toEqual([cacheKeys.user(user.id)]);
  });

  it("another isolate's memory copy of a public profile lasts at most MEMORY_CACHE_TTL_SECONDS", async () => {
    const user = await seedUser({ name: "Before" });
    const other = isolate({ MEMORY_CACHE_TTL_SECONDS: "1" });
    await other.fetch("GET", `/api/users/${user.id}`);
    await usersRepository.update(user.id, { name: "After", updatedAt: new Date() });
    await env.CACHE.delete(cacheKeys.user(user.id));
    expect(await (await other.fetch("GET", `/api/users/${user.id}`)).json()).toMatchObject({ name: "Before" });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await (await other.fetch("GET", `/api/users/${user.id}`)).json()).toMatchObject({ name: "After" });
  });

  it("DELETE → 404 from every isolate, and the user's tokens stop working", async () => {
    const { user, token } = await signedInThroughApi("member");
    const [writer, other] = [isolate(), isolate()];
    await warm(writer, user.id);
    await other.fetch("GET", "/api/auth/me", { token });
    expect((await writer.fetch("DELETE", `/api/users/${user.id}`, { token })).status).toBe(204);
    expect((await writer.fetch("GET", `/api/users/${user.id}`)).status).toBe(404);
    expect((await isolate().fetch("GET", `/api/users/${user.id}`)).status).toBe(404);
    expect((await other.fetch("GET", "/api/auth/me", { token })).status).toBe(401);
    expect(await env.CACHE.get(cacheKeys.user(user.id))).toBeNull();
    expect(await env.CACHE.get(await sessionKey(token))).toBeNull();
  });

  it("disable → the user's sessions stop working at once, everywhere, and stay dead after re-enabling", async () => {
    const { user, token } = await signedInThroughApi("member");
    const { token: adminToken } = await signedInThroughApi("admin");
    const other = isolate();
    expect((await other.fetch("GET", "/api/auth/me", { token })).status).toBe(200);

    const disable = { token: adminToken, body: { status: "disabled" } };
    expect((await isolate().fetch("PATCH", `/api/users/${user.id}`, disable)).status).toBe(200);
    expect((await other.fetch("GET", "/api/auth/me", { token })).status).toBe(401);
    expect(await env.CACHE.get(await sessionKey(token))).toBeNull();

    const enable = { token: adminToken, body: { status: "active" } };
    expect((await isolate().fetch("PATCH", `/api/users/${user.id}`, enable)).status).toBe(200);
    expect((await other.fetch("GET", "/api/auth/me", { token })).status).toBe(401);
  });

  it("role change → takes effect on the very next request, from the cached session", async () => {
    const { user, token } = await signedInThroughApi("member");
    const { token: adminToken } = await signedInThroughApi("admin");
    const other = isolate();
    expect((await other.fetch("GET", "/api/users", { token })).status).toBe(403);
    await isolate().fetch("PATCH", `/api/users/${user.id}`, { token: adminToken, body: { role: "admin" } });
    expect((await other.fetch("GET", "/api/users", { token })).status).toBe(200);
    await isolate().fetch("PATCH", `/api/users/${user.id}`, { token: adminToken, body: { role: "member" } });
    expect((await other.fetch("GET", "/api/users", { token })).status).toBe(403);
  });

  it("logout → that token fails at once in every isolate; its KV entry is gone", async () => {
    const { token } = await signedInThroughApi("member");
    const other = isolate();
    expect((await other.fetch("GET", "/api/auth/me", { token })).status).toBe(200);
    expect((await isolate().fetch("POST", "/api/auth/logout", { token })).status).toBe(204);
    expect((await other.fetch("GET", "/api/auth/me", { token })).status).toBe(401);
    expect(await env.CACHE.get(await sessionKey(token))).toBeNull();
  });

  it("password change → the other sessions fail at once; the one that made the change keeps working", async () => {
    const { user, token } = await signedInThroughApi("member");
    const login = await isolate().fetch("POST", "/api/auth/login", { body: { email: user.email, password: PASSWORD } });
    const { token: second } = (await login.json()) as { token: string };
    const other = isolate();
    expect((await other.fetch("GET", "/api/auth/me", { token: second })).status).toBe(200);
    const change = { token, body: { password: NEW_PASSWORD, currentPassword: PASSWORD } };
    expect((await isolate().fetch("PATCH", `/api/users/${user.id}`, change)).status).toBe(200);
    expect((await other.fetch("GET", "/api/auth/me", { token: second })).status).toBe(401);
    expect(await env.CACHE.get(await sessionKey(second))).toBeNull();
    expect((await other.fetch("GET", "/api/auth/me", { token })).status).toBe(200);
  });
});

describe("read-your-writes across the tiers", () => {
  it("the writer's own reads after a PATCH — /me, its full view, its public profile — all show the write", async () => {
    const { user, token } = await signedInThroughApi("member");
    const [a, b] = [isolate(), isolate()];
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

describe("a read that races a write cannot put the old value back for long", () => {
  /** A users repository whose reads answer late: they read the row, then wait, like a slow network. */
  function slowReads(delayMs: number) {
    return {
      ...usersRepository,
      findById: async (id: string) => {
        const row = await usersRepository.findById(id);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        return row;
      },
    };
  }

  it("a fill from a read that began before the write is removed by the write's second purge", async () => {
    const { user, token } = await signedInThroughApi("member");
    const bindings = { ...env, CACHE_REPURGE_DELAY_MS: "600" };
    // A read starts, fetches the old row, and fills KV 200 ms later: after the write's first purge.
    const fills: Promise<unknown>[] = [];
    const reader = createCachedUsersRepository(slowReads(200), {
      memory: createMemoryCache<User>({ maxEntries: 10, ttlMs: 5000 }),
      kv: createKvCache(env.CACHE, { readTimeoutMs: 300 }),
      purger: { purge: async () => {}, drain: async () => 0 },
      metrics: new RequestMetrics(),
      defer: (task) => void fills.push(task),
      kvTtlSeconds: 3600,
      fillWindowMs: 300,
    });
    const racingRead = reader.findById(user.id);

    const ctx = createExecutionContext();
    const request = new Request(`http://x/api/users/${user.id}`, {
      method: "PATCH",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ name: "Fresh" }),
    });
    expect((await worker.fetch(request, bindings, ctx)).status).toBe(200);
    expect(await racingRead).toMatchObject({ name: user.name });
    await Promise.all(fills);
    expect(await env.CACHE.get(cacheKeys.user(user.id), "json")).toMatchObject({ name: user.name }); // the race

    await waitOnExecutionContext(ctx); // the second purge
    expect(await env.CACHE.get(cacheKeys.user(user.id))).toBeNull();
    expect(await (await isolate().fetch("GET", `/api/users/${user.id}`)).json()).toMatchObject({ name: "Fresh" });
  });

  it("a read whose database answer came after its fill window fills neither KV nor memory", async () => {
    const user = await seedUser();
    const deferred: Promise<unknown>[] = [];
    const memory = createMemoryCache<User>({ maxEntries: 10, ttlMs: 5000 });
    const cached = createCachedUsersRepository(slowReads(400), {
      memory,
      kv: createKvCache(env.CACHE, { readTimeoutMs: 300 }),
      purger: { purge: async () => {}, drain: async () => 0 },
      metrics: new RequestMetrics(),
      defer: (task) => void deferred.push(task),
      kvTtlSeconds: 3600,
      fillWindowMs: 300,
    });
    expect(await cached.findById(user.id, { allowStale: true })).toMatchObject({ id: user.id });
    await Promise.all(deferred);
    expect(await env.CACHE.get(cacheKeys.user(user.id))).toBeNull();
    expect(memory.get(cacheKeys.user(user.id))).toBeUndefined();
  });

  it("the cron purges every key once more before forgetting it", async () => {
    const { user, token } = await signedInThroughApi("member");
    await isolate().fetch("PATCH", `/api/users/${user.id}`, { token, body: { name: "Drained" } });
    // A fill that landed later than even the second purge…
    await env.CACHE.put(cacheKeys.user(user.id), JSON.stringify({ stale: true }));
    const services = createServices({
      backend: d1Backend,
      env,
      config: readConfig(env),
      metrics: new RequestMetrics(),
      defer: () => {},
    });
    expect(await services.purger?.drain(new Date(Date.now() + 60_000))).toBeGreaterThanOrEqual(1);
    // …is gone after the cron, and so is the outbox row.
    expect(await env.CACHE.get(cacheKeys.user(user.id))).toBeNull();
    expect(await pendingPurges(cacheKeys.user(user.id))).toEqual([]);
  });

  it("CACHE_REPURGE_DELAY_MS below 100 ms is refused: reads need a fill window shorter than it", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    await expectProblem(await apiWith({ CACHE_REPURGE_DELAY_MS: "0" }, "GET", "/health"), 500, "/problems/internal");
  });
});

describe("KV failing during a write", () => {
  const refusingWrites = () =>
    ({
      get: (key: string, type: "json") => env.CACHE.get(key, type),
      put: () => Promise.reject(new Error("KV PUT failed: 503")),
      delete: () => Promise.reject(new Error("KV DELETE failed: 503")),
    }) as unknown as KVNamespace;

  it("a profile write still succeeds; its purge waits in the outbox and the cron finishes it", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const { user, token } = await signedInThroughApi("member");
    await isolate().fetch("GET", `/api/users/${user.id}`);
    const res = await isolate({ CACHE: refusingWrites() }).fetch("PATCH", `/api/users/${user.id}`, {
      token,
      body: { name: "During outage" },
    });
    expect(res.status).toBe(200);
    expect(await pendingPurges(cacheKeys.user(user.id))).toEqual([cacheKeys.user(user.id)]);
    const services = createServices({
      backend: d1Backend,
      env,
      config: readConfig(env),
      metrics: new RequestMetrics(),
      defer: () => {},
    });
    await services.purger?.drain(new Date(Date.now() + 60_000));
    expect(await pendingPurges(cacheKeys.user(user.id))).toEqual([]);
    expect(await (await isolate().fetch("GET", `/api/users/${user.id}`)).json()).toMatchObject({
      name: "During outage",
    });
  });

  it("logout while KV refuses the delete but still serves the entry → 503, nothing changed; the retry works", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const { token } = await signedInThroughApi("member");
    const refused = await isolate({ CACHE: refusingWrites() }).fetch("POST", "/api/auth/logout", { token });
    await expectProblem(refused, 503, "/problems/unavailable");
    expect((await isolate().fetch("GET", "/api/auth/me", { token })).status).toBe(200);
    expect((await isolate().fetch("POST", "/api/auth/logout", { token })).status).toBe(204);
    expect((await isolate().fetch("GET", "/api/auth/me", { token })).status).toBe(401);
  });

  it("logout with KV down altogether succeeds: the session check is on D1 then", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const { failingKV } = await import("./helpers/bindings");
    const { token } = await signedInThroughApi("member");
    const down = isolate({ CACHE: failingKV() });
    expect((await down.fetch("POST", "/api/auth/logout", { token })).status).toBe(204);
    expect((await down.fetch("GET", "/api/auth/me", { token })).status).toBe(401);
  });

  it("a refused write (412) records nothing to purge", async () => {
    const { user, token } = await signedInThroughApi("member");
    const res = await isolate().fetch("PATCH", `/api/users/${user.id}`, {
      token,
      body: { name: "x" },
      headers: { "If-Match": '"v99"' },
    });
    expect(res.status).toBe(412);
    expect(await pendingPurges(cacheKeys.user(user.id))).toEqual([]);
  });
});
