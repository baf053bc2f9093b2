import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { cacheKeys } from "../src/cache/keys";
import { hashToken } from "../src/lib/tokens";
import { failingKV } from "./helpers/bindings";
import { PASSWORD, seedUser, signedIn, signedInThroughApi } from "./helpers/fixtures";
import { api, isolate, serverTiming } from "./helpers/http";

afterEach(() => vi.restoreAllMocks());

describe("public profile reads: memory → KV → D1", () => {
  it("a miss reads D1 once and fills KV after the response; the next read is a memory hit with no I/O", async () => {
    const user = await seedUser();
    const worker = isolate();

    const first = await worker.fetch("GET", `/api/users/${user.id}`);
    expect(first.status).toBe(200);
    expect(serverTiming(first)).toMatchObject({ cache: { desc: "miss" }, db: { desc: "1 query" } });
    expect(worker.counts).toEqual({ d1: 1, kvGet: 1, kvPut: 1, kvDelete: 0 });

    worker.reset();
    const second = await worker.fetch("GET", `/api/users/${user.id}`);
    expect(await second.json()).toEqual(await first.json());
    expect(serverTiming(second).cache).toEqual({ desc: "hit-memory" });
    expect(serverTiming(second)).not.toHaveProperty("db");
    expect(serverTiming(second)).not.toHaveProperty("kv");
    expect(worker.counts).toEqual({ d1: 0, kvGet: 0, kvPut: 0, kvDelete: 0 });
  });

  it("through the Worker's own entry point too: workerd keeps the isolate's bindings, so memory survives", async () => {
    const user = await seedUser();
    await api("GET", `/api/users/${user.id}`);
    expect(serverTiming(await api("GET", `/api/users/${user.id}`)).cache).toEqual({ desc: "hit-memory" });
  });

  it("another isolate (empty memory) is served from KV with no D1 query", async () => {
    const user = await seedUser();
    await isolate().fetch("GET", `/api/users/${user.id}`);
    const other = isolate();
    const res = await other.fetch("GET", `/api/users/${user.id}`);
    expect(res.status).toBe(200);
    expect(serverTiming(res).cache).toEqual({ desc: "hit-kv" });
    expect(other.counts).toMatchObject({ d1: 0, kvGet: 1, kvPut: 0 });
  });

  it("KV holds the user without any password hash; the entry expires (TTL) rather than living forever", async () => {
    const user = await seedUser();
    await isolate().fetch("GET", `/api/users/${user.id}`);
    const { value, metadata } = await env.CACHE.getWithMetadata(cacheKeys.user(user.id));
    expect(JSON.parse(value as string)).toEqual({
      id: user.id,
      email: user.email,
      username: user.username,
      name: user.name,
      role: "member",
      status: "active",
      emailVerified: false,
      createdAt: user.createdAt.getTime(),
      updatedAt: user.updatedAt.getTime(),
      version: 1,
    });
    expect(value).not.toMatch(/scrypt|pbkdf2|password/i);
    expect(metadata).toBeNull();
    const listed = await env.CACHE.list({ prefix: cacheKeys.user(user.id) });
    expect(listed.keys[0]?.expiration).toBeGreaterThan(Date.now() / 1000 + 59);
  });

  it("a hot key is not written again on every read (one fill, then hits)", async () => {
    const user = await seedUser();
    const workers = [isolate(), isolate(), isolate()];
    await workers[0]?.fetch("GET", `/api/users/${user.id}`);
    for (const worker of workers) {
      for (let i = 0; i < 3; i++) await worker.fetch("GET", `/api/users/${user.id}`);
    }
    expect(workers.reduce((puts, worker) => puts + worker.counts.kvPut, 0)).toBe(1);
  });

  it("an unknown id is a miss every time, and nothing is cached for it", async () => {
    const worker = isolate();
    const id = "01936b2e-7c4a-7d1e-9a3b-5f0c2d8e4a61";
    expect((await worker.fetch("GET", `/api/users/${id}`)).status).toBe(404);
    expect((await worker.fetch("GET", `/api/users/${id}`)).status).toBe(404);
    expect(worker.counts).toMatchObject({ d1: 2, kvPut: 0 });
  });
});

describe("owner and admin views skip the memory tier (read-your-writes)", () => {
  it("an owner's repeated read comes from KV, never from memory", async () => {
    const { user, token } = await signedInThroughApi("member");
    const worker = isolate();
    await worker.fetch("GET", `/api/users/${user.id}`, { token });
    worker.reset();
    const res = await worker.fetch("GET", `/api/users/${user.id}`, { token });
    expect(serverTiming(res).cache).toEqual({ desc: "hit-kv" });
    expect(worker.counts.d1).toBe(0);
  });
});

describe("the session check: KV, then D1", () => {
  it("sign-in writes the session entry before it answers; authenticated requests then make no D1 query", async () => {
    const user = await seedUser();
    const signIn = isolate();
    const login = await signIn.fetch("POST", "/api/auth/login", { body: { email: user.email, password: PASSWORD } });
    const { token } = (await login.json()) as { token: string };
    expect(signIn.counts.kvPut).toBe(1);
    expect(await env.CACHE.get(cacheKeys.session(await hashToken(token)))).not.toBeNull();

    const other = isolate();
    const me = await other.fetch("GET", "/api/auth/me", { token });
    expect(me.status).toBe(200);
    // The session came from KV; its user was read from D1 once, and filled into KV.
    expect(other.counts).toMatchObject({ d1: 1, kvGet: 2 });
    // The session entry, then the user's entry (filled by the first read of it), and no D1 at all.
    const again = isolate();
    await again.fetch("GET", "/api/auth/me", { token });
    expect(again.counts).toMatchObject({ d1: 0, kvGet: 2 });
  });

  it("a session without an entry (sign-in could not write it) is checked in D1 and never filled by a read", async () => {
    const { token } = await signedIn("member");
    const worker = isolate();
    for (let i = 0; i < 3; i++) {
      const res = await worker.fetch("GET", "/api/auth/me", { token });
      expect(res.status).toBe(200);
    }
    expect(worker.counts.kvPut).toBeLessThanOrEqual(1); // the user's entry, once; never the session's
    expect(await env.CACHE.get(cacheKeys.session(await hashToken(token)))).toBeNull();
  });

  it("the session entry names the session and user, never the token or the user's data", async () => {
    const { user, token } = await signedInThroughApi("member");
    const key = cacheKeys.session(await hashToken(token));
    const session = await env.DB.prepare("select id from sessions where user_id = ?")
      .bind(user.id)
      .first<{ id: string }>();
    expect(await env.CACHE.get(key, "json")).toEqual({
      id: session?.id,
      userId: user.id,
      expiresAt: expect.any(Number),
    });
    expect(key).not.toContain(token);
    expect(await env.CACHE.get(key)).not.toContain(token);
  });

  it("sign-in itself never reads credentials from a cache", async () => {
    const user = await seedUser();
    await isolate().fetch("GET", `/api/users/${user.id}`);
    const worker = isolate();
    const res = await worker.fetch("POST", "/api/auth/login", { body: { email: user.email, password: PASSWORD } });
    expect(res.status).toBe(200);
    expect(worker.counts.kvGet).toBe(0);
  });

  it("admin lists are never cached: every list reads D1, and nothing is written to KV for it", async () => {
    const { token } = await signedInThroughApi("admin");
    const worker = isolate();
    await worker.fetch("GET", "/api/auth/me", { token }); // warms the session check: KV only from here on
    worker.reset();
    for (let i = 0; i < 3; i++) await worker.fetch("GET", "/api/users", { token });
    // Each list is one batch of two statements: the session guard's check and the page.
    expect(worker.counts).toMatchObject({ d1: 6, kvPut: 0 });
  });
});

describe("KV failing or slow: reads fall back to D1", () => {
  it("KV errors → profile and session reads still answer from D1, and the failure is logged", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const user = await seedUser();
    const { token } = await signedIn("member");
    const worker = isolate({ CACHE: failingKV() });
    const profile = await worker.fetch("GET", `/api/users/${user.id}`);
    expect(profile.status).toBe(200);
    expect(serverTiming(profile).cache).toEqual({ desc: "miss" });
    expect((await worker.fetch("GET", "/api/auth/me", { token })).status).toBe(200);
    const lines = warn.mock.calls.map(([line]) => JSON.parse(line as string));
    expect(lines).toContainEqual(expect.objectContaining({ message: "kv read failed; using the database" }));
    expect(JSON.stringify(lines)).not.toContain(user.id);
  });

  it("KV that does not answer → the read gives up after its timeout and uses D1", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const user = await seedUser();
    const hanging = { ...failingKV(), get: () => new Promise(() => {}), put: async () => {} } as unknown as KVNamespace;
    const res = await isolate({ CACHE: hanging }).fetch("GET", `/api/users/${user.id}`);
    expect(res.status).toBe(200);
    expect(warn.mock.calls.map(([line]) => JSON.parse(line as string))).toContainEqual(
      expect.objectContaining({
        message: "kv read failed; using the database",
        error: "KV read: no answer within 300 ms",
      }),
    );
  });

  it("a malformed KV entry is ignored, not trusted", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const user = await seedUser();
    await env.CACHE.put(cacheKeys.user(user.id), JSON.stringify({ id: user.id, role: "admin" }));
    const res = await isolate().fetch("GET", `/api/users/${user.id}`);
    expect(serverTiming(res).cache).toEqual({ desc: "miss" });
    expect(await res.json()).toMatchObject({ id: user.id, username: user.username });
  });
});

describe("CACHE_ENABLED=false", () => {
  it("every read goes to D1 and nothing touches KV", async () => {
    const user = await seedUser();
    const worker = isolate({ CACHE_ENABLED: "false" });
    await worker.fetch("GET", `/api/users/${user.id}`);
    const res = await worker.fetch("GET", `/api/users/${user.id}`);
    expect(serverTiming(res).cache).toEqual({ desc: "none" });
    expect(worker.counts).toMatchObject({ d1: 2, kvGet: 0, kvPut: 0 });
  });
});
