import { describe, expect, it } from "vitest";
import { newUserBody, seedUser, signedIn, snapshot, userRow } from "./helpers/fixtures";
import { api, expectProblem, isolate, serverTiming } from "./helpers/http";

describe("user representations carry validators and say how they may be cached", () => {
  it("public profile: strong ETag from what it shows, public max-age, Vary: Authorization", async () => {
    const user = await seedUser();
    const res = await api("GET", `/api/users/${user.id}`);
    expect(res.headers.get("ETag")).toMatch(/^"p[0-9a-f]{16}"$/);
    expect(res.headers.get("Cache-Control")).toBe("public, max-age=30");
    expect(res.headers.get("Vary")).toBe("Authorization");
  });

  it("owner and admin views: their own ETag, private, no-store", async () => {
    const { user, token } = await signedIn("member");
    const { token: adminToken } = await signedIn("admin");
    for (const bearer of [token, adminToken]) {
      const res = await api("GET", `/api/users/${user.id}`, { token: bearer });
      expect(res.headers.get("ETag")).toBe('"v1"');
      expect(res.headers.get("Cache-Control")).toBe("private, no-store");
      expect(res.headers.get("Vary")).toBe("Authorization");
    }
  });

  it("POST, PATCH and /me return the full view's ETag", async () => {
    const created = await api("POST", "/api/users", { body: newUserBody() });
    expect(created.headers.get("ETag")).toBe('"v1"');
    const { user, token } = await signedIn("member");
    const patched = await api("PATCH", `/api/users/${user.id}`, { token, body: { name: "Two" } });
    expect(patched.headers.get("ETag")).toBe('"v2"');
    expect((await api("GET", "/api/auth/me", { token })).headers.get("ETag")).toBe('"v2"');
  });

  it("the public ETag changes when the profile does, and never when only private fields change", async () => {
    const { user, token } = await signedIn("member");
    const { token: adminToken } = await signedIn("admin");
    const publicTag = async () => (await api("GET", `/api/users/${user.id}`)).headers.get("ETag");
    const first = await publicTag();
    const change = async (by: string, body: Record<string, unknown>) =>
      expect((await api("PATCH", `/api/users/${user.id}`, { token: by, body })).status).toBe(200);

    await change(token, {
      email: `moved_${user.id.slice(-8)}@example.com`,
      currentPassword: "correct horse battery staple",
    });
    await change(token, { password: "another long passphrase", currentPassword: "correct horse battery staple" });
    await change(adminToken, { role: "admin" });
    await change(adminToken, { status: "disabled" });
    await change(adminToken, { status: "active" });
    expect(await publicTag()).toBe(first);

    await change(adminToken, { name: "Renamed" });
    const renamed = await publicTag();
    expect(renamed).not.toBe(first);
    await change(adminToken, { username: `re_${user.username}` });
    expect(await publicTag()).not.toBe(renamed);
  });

  it("every write bumps the version", async () => {
    const { user, token } = await signedIn("member");
    await api("PATCH", `/api/users/${user.id}`, { token, body: { name: "One" } });
    await api("PATCH", `/api/users/${user.id}`, { token, body: { name: "Two" } });
    expect((await userRow(user.id))?.version).toBe(3);
  });
});

describe("If-None-Match", () => {
  it("a current tag → 304 with no body and the same validators; weak form and lists match too", async () => {
    const user = await seedUser();
    const tag = (await api("GET", `/api/users/${user.id}`)).headers.get("ETag") as string;
    for (const header of [tag, `W/${tag}`, `"p0000000000000000", ${tag}`, "*"]) {
      const res = await api("GET", `/api/users/${user.id}`, { headers: { "If-None-Match": header } });
      expect(res.status).toBe(304);
      expect(await res.text()).toBe("");
      expect(res.headers.get("ETag")).toBe(tag);
      expect(res.headers.get("Cache-Control")).toBe("public, max-age=30");
    }
  });

  it("an old tag, or the other view's tag → 200 with the body", async () => {
    const { user, token } = await signedIn("member");
    const old = (await api("GET", `/api/users/${user.id}`)).headers.get("ETag") as string;
    await api("PATCH", `/api/users/${user.id}`, { token, body: { name: "Changed" } });
    const stale = await api("GET", `/api/users/${user.id}`, { headers: { "If-None-Match": old } });
    expect(stale.status).toBe(200);
    expect(await stale.json()).toMatchObject({ name: "Changed" });
    const current = stale.headers.get("ETag") as string;
    const otherView = await api("GET", `/api/users/${user.id}`, { token, headers: { "If-None-Match": current } });
    expect(otherView.status).toBe(200);
  });

  it("a 304 served from the memory tier does no I/O", async () => {
    const user = await seedUser();
    const worker = isolate();
    const tag = (await worker.fetch("GET", `/api/users/${user.id}`)).headers.get("ETag") as string;
    worker.reset();
    const res = await worker.fetch("GET", `/api/users/${user.id}`, { headers: { "If-None-Match": tag } });
    expect(res.status).toBe(304);
    expect(worker.counts).toEqual({ d1: 0, kvGet: 0, kvPut: 0, kvDelete: 0 });
  });
});

describe("If-Match on PATCH and DELETE", () => {
  it("a stale tag → 412 and nothing changes", async () => {
    const { user, token } = await signedIn("member");
    await api("PATCH", `/api/users/${user.id}`, { token, body: { name: "Second" } });
    const before = await snapshot();
    const patch = await api("PATCH", `/api/users/${user.id}`, {
      token,
      body: { name: "Lost update" },
      headers: { "If-Match": '"v1"' },
    });
    await expectProblem(patch, 412, "/problems/precondition-failed");
    await expectProblem(
      await api("DELETE", `/api/users/${user.id}`, { token, headers: { "If-Match": '"v1"' } }),
      412,
      "/problems/precondition-failed",
    );
    expect(await snapshot()).toEqual(before);
  });

  it.each(['"p0123456789abcdef"', 'W/"v1"', "v1", "garbage"])("a tag that can never match (%s) → 412", async (tag) => {
    const { user, token } = await signedIn("member");
    const res = await api("PATCH", `/api/users/${user.id}`, {
      token,
      body: { name: "x" },
      headers: { "If-Match": tag },
    });
    await expectProblem(res, 412, "/problems/precondition-failed");
  });

  it("the current tag (or *, or a list holding it) → the write happens", async () => {
    const { user, token } = await signedIn("member");
    const first = await api("PATCH", `/api/users/${user.id}`, {
      token,
      body: { name: "A" },
      headers: { "If-Match": '"v1"' },
    });
    expect(first.status).toBe(200);
    const second = await api("PATCH", `/api/users/${user.id}`, {
      token,
      body: { name: "B" },
      headers: { "If-Match": '"v9", "v2"' },
    });
    expect(second.headers.get("ETag")).toBe('"v3"');
    expect(
      (await api("PATCH", `/api/users/${user.id}`, { token, body: { name: "C" }, headers: { "If-Match": "*" } }))
        .status,
    ).toBe(200);
    expect((await api("DELETE", `/api/users/${user.id}`, { token, headers: { "If-Match": '"v4"' } })).status).toBe(204);
  });

  it.each([
    ["PATCH", 99],
    ["DELETE", 99],
    ["PATCH", 17],
    ["DELETE", 500],
  ])("%s with %i entity tags in If-Match → 400 naming the header, and nothing changes", async (method, count) => {
    const { user, token } = await signedIn("member");
    const before = await snapshot();
    const tags = Array.from({ length: count }, (_, i) => `"v${i + 2}"`).join(", ");
    const res = await api(method, `/api/users/${user.id}`, {
      token,
      ...(method === "PATCH" ? { body: { name: "Many tags" } } : {}),
      headers: { "If-Match": tags.length > 1024 ? tags.slice(0, 1024) : tags },
    });
    const problem = await expectProblem(res, 400, "/problems/validation");
    expect(problem.errors).toEqual([{ path: "if-match", message: expect.any(String) }]);
    expect(await snapshot()).toEqual(before);
  });

  it("16 entity tags, repeats included, are a precondition like any other", async () => {
    const { user, token } = await signedIn("member");
    const stale = Array.from({ length: 15 }, () => '"v7"').join(", ");
    const refused = await api("PATCH", `/api/users/${user.id}`, {
      token,
      body: { name: "x" },
      headers: { "If-Match": `${stale}, "v8"` },
    });
    await expectProblem(refused, 412, "/problems/precondition-failed");
    const accepted = await api("PATCH", `/api/users/${user.id}`, {
      token,
      body: { name: "y" },
      headers: { "If-Match": `${stale}, "v1"` },
    });
    expect(accepted.status).toBe(200);
  });

  it("an If-Match header longer than 1 KiB → 400", async () => {
    const { user, token } = await signedIn("member");
    const res = await api("DELETE", `/api/users/${user.id}`, {
      token,
      headers: { "If-Match": `"v1${"0".repeat(2000)}"` },
    });
    await expectProblem(res, 400, "/problems/validation");
    expect(await (await api("GET", `/api/users/${user.id}`, { token })).json()).toMatchObject({ id: user.id });
  });

  it("an unknown user is still 404, whatever If-Match says", async () => {
    const { token } = await signedIn("admin");
    const res = await api("PATCH", "/api/users/01936b2e-7c4a-7d1e-9a3b-5f0c2d8e4a61", {
      token,
      body: { name: "x" },
      headers: { "If-Match": '"v1"' },
    });
    await expectProblem(res, 404, "/problems/not-found");
  });
});

describe("Server-Timing", () => {
  it("on every response: cache status and total; db (with its query count) only when D1 was touched", async () => {
    const health = serverTiming(await api("GET", "/health"));
    expect(health).toMatchObject({ cache: { desc: "none" }, total: { dur: expect.any(Number) } });
    expect(health).not.toHaveProperty("db");

    const user = await seedUser();
    const worker = isolate();
    const miss = serverTiming(await worker.fetch("GET", `/api/users/${user.id}`));
    expect(miss).toMatchObject({
      cache: { desc: "miss" },
      db: { dur: expect.any(Number), desc: "1 query" },
      kv: { dur: expect.any(Number), desc: "1 operation" },
    });
    const error = serverTiming(await api("GET", "/nope"));
    expect(error).toHaveProperty("total");
  });
});
