import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { d1RefusingWrites, failingD1, failingKV, hangingD1 } from "./helpers/bindings";
import { newUserBody, PASSWORD, seedUser, signedIn, signedInThroughApi, snapshot } from "./helpers/fixtures";
import { expectProblem, isolate, serverTiming } from "./helpers/http";
import { WRITES } from "./helpers/writes";

beforeEach(() => {
  for (const method of ["warn", "error", "log"] as const) vi.spyOn(console, method).mockImplementation(() => {});
});
afterEach(() => vi.restoreAllMocks());

describe("D1 down", () => {
  it("reads the cache can serve still answer: public profiles, the session check and /me", async () => {
    const { user, token } = await signedInThroughApi("member");
    const warm = isolate();
    await warm.fetch("GET", `/api/users/${user.id}`);
    await warm.fetch("GET", "/api/auth/me", { token });

    const down = isolate({ DB: failingD1() });
    const profile = await down.fetch("GET", `/api/users/${user.id}`);
    expect(profile.status).toBe(200);
    expect(serverTiming(profile).cache).toEqual({ desc: "hit-kv" });
    const me = await down.fetch("GET", "/api/auth/me", { token });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ id: user.id });
  });

  it("reads the cache cannot serve → 503 with Retry-After", async () => {
    const { token } = await signedIn("admin");
    const down = isolate({ DB: failingD1() });
    const list = await down.fetch("GET", "/api/users", { token });
    await expectProblem(list, 503, "/problems/unavailable");
    expect(list.headers.get("Retry-After")).toMatch(/^\d+$/);
  });

  it.each(WRITES)(
    "a %s whose write meets a down D1 → 503 with Retry-After, and nothing is half-written once D1 is back",
    async (_, build) => {
      const { method, path, options } = await build();
      const before = await snapshot();
      const res = await isolate({ DB: d1RefusingWrites() }).fetch(method, path, options);
      await expectProblem(res, 503, "/problems/unavailable");
      expect(res.headers.get("Retry-After")).toMatch(/^\d+$/);
      // D1 is back: every table is exactly as before, and the same request now succeeds.
      expect(await snapshot()).toEqual(before);
      expect((await isolate().fetch(method, path, options)).status).toBeLessThan(300);
    },
  );

  it("a D1 that does not answer → 503 after DB_TIMEOUT_MS, not a hung request", async () => {
    const user = await seedUser();
    const started = Date.now();
    const res = await isolate({ DB: hangingD1(), DB_TIMEOUT_MS: "100", CACHE_ENABLED: "false" }).fetch(
      "GET",
      `/api/users/${user.id}`,
    );
    await expectProblem(res, 503, "/problems/unavailable");
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe("KV down", () => {
  it("everything still works from D1: sign-up, sign-in, reads, writes, logout", async () => {
    const worker = isolate({ CACHE: failingKV() });
    const body = newUserBody();
    const created = await worker.fetch("POST", "/api/users", { body });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const login = await worker.fetch("POST", "/api/auth/login", { body: { email: body.email, password: PASSWORD } });
    expect(login.status).toBe(200);
    const { token } = (await login.json()) as { token: string };
    expect((await worker.fetch("GET", `/api/users/${id}`)).status).toBe(200);
    expect((await worker.fetch("GET", "/api/auth/me", { token })).status).toBe(200);
    expect((await worker.fetch("PATCH", `/api/users/${id}`, { token, body: { name: "Still fine" } })).status).toBe(200);
    expect((await worker.fetch("POST", "/api/auth/logout", { token })).status).toBe(204);
    expect((await worker.fetch("GET", "/api/auth/me", { token })).status).toBe(401);
  });
});
