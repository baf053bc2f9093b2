import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hashToken } from "../src/lib/tokens";
import { PASSWORD, seedSession, seedUser, sessionCount, signedIn, snapshot } from "./helpers/fixtures";
import { api, apiWith, expectProblem } from "./helpers/http";

const login = (email: string, password: string) => api("POST", "/api/auth/login", { body: { email, password } });

describe("POST /api/auth/login", () => {
  it("→ 200 with a token, its expiry and the full user; only the token's hash is stored", async () => {
    const user = await seedUser();
    const started = Date.now();
    const res = await login(` ${user.email.toUpperCase()} `, PASSWORD);
    expect(res.status).toBe(200);
    expect(res.headers.get("Cache-Control")).toBe("no-store");
    const body = (await res.json()) as { token: string; expiresAt: string; user: Record<string, unknown> };
    expect(body.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(body.user).toMatchObject({ id: user.id, email: user.email, role: "member" });
    const ttlMs = Date.parse(body.expiresAt) - started;
    expect(ttlMs).toBeGreaterThan(604_800_000 - 60_000);
    expect(ttlMs).toBeLessThanOrEqual(604_800_000 + 60_000);
    const stored = await env.DB.prepare("select * from sessions where user_id = ?").bind(user.id).all();
    expect(stored.results).toHaveLength(1);
    expect(stored.results[0]?.token_hash).toBe(await hashToken(body.token));
    expect(JSON.stringify(stored.results)).not.toContain(body.token);
  });

  it("the session lifetime follows SESSION_TTL_SECONDS", async () => {
    const user = await seedUser();
    const res = await apiWith({ SESSION_TTL_SECONDS: "3600" }, "POST", "/api/auth/login", {
      body: { email: user.email, password: PASSWORD },
    });
    const { expiresAt } = (await res.json()) as { expiresAt: string };
    expect(Math.abs(Date.parse(expiresAt) - Date.now() - 3_600_000)).toBeLessThan(60_000);
  });

  it("unknown email, wrong password and disabled account → the same 401 body; no session is created", async () => {
    const user = await seedUser();
    const disabled = await seedUser({ status: "disabled" });
    const before = await snapshot();
    const bodies = [];
    for (const res of [
      await login("nobody@example.com", PASSWORD),
      await login(user.email, "wrong password!!"),
      await login(disabled.email, PASSWORD),
    ]) {
      const problem = await expectProblem(res, 401, "/problems/unauthorized");
      expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer /);
      bodies.push({ ...problem, requestId: undefined });
    }
    expect(bodies[1]).toEqual(bodies[0]);
    expect(bodies[2]).toEqual(bodies[0]);
    // Only the known accounts' auth.sign_in_failed events, after the response (test/audit.test.ts).
    const { auditEvents: _after, ...after } = await snapshot();
    const { auditEvents: _before, ...unchanged } = before;
    expect(after).toEqual(unchanged);
  });

  it.each([
    [{ email: "a@example.com" }, "password"],
    [{ password: PASSWORD }, "email"],
    [{ email: "a@example.com", password: PASSWORD, remember: true }, "remember"],
    [{ email: 5, password: PASSWORD }, "email"],
  ])("%o → 400 naming %s", async (body, path) => {
    const problem = await expectProblem(await api("POST", "/api/auth/login", { body }), 400, "/problems/validation");
    expect(problem.errors).toContainEqual({ path, message: expect.any(String) });
  });

  it("each login makes a new, independent session", async () => {
    const user = await seedUser();
    const first = (await (await login(user.email, PASSWORD)).json()) as { token: string };
    const second = (await (await login(user.email, PASSWORD)).json()) as { token: string };
    expect(first.token).not.toBe(second.token);
    expect(await sessionCount(user.id)).toBe(2);
  });
});

describe("GET /api/auth/me", () => {
  it("→ 200 the caller's full user, private", async () => {
    const { user, token } = await signedIn("member");
    const res = await api("GET", "/api/auth/me", { token });
    expect(res.status).toBe(200);
    expect(res.headers.get("Cache-Control")).toBe("private, no-store");
    expect(res.headers.get("ETag")).toBe('"v1"');
    expect(await res.json()).toEqual({
      id: user.id,
      email: user.email,
      username: user.username,
      name: user.name,
      role: "member",
      status: "active",
      emailVerified: false,
      createdAt: user.createdAt.toISOString(),
      updatedAt: user.updatedAt.toISOString(),
    });
  });

  it("a token from login works", async () => {
    const user = await seedUser();
    const { token } = (await (await login(user.email, PASSWORD)).json()) as { token: string };
    expect(await (await api("GET", "/api/auth/me", { token })).json()).toMatchObject({ id: user.id });
  });

  it.each([
    ["no Authorization header", {}],
    ["another scheme", { Authorization: "Basic dXNlcjpwYXNz" }],
    ["a malformed token", { Authorization: "Bearer not-a-token" }],
    ["an unknown token", { Authorization: `Bearer ${"A".repeat(43)}` }],
    ["an empty bearer", { Authorization: "Bearer " }],
  ])("%s → 401 with WWW-Authenticate: Bearer", async (_, headers) => {
    const res = await api("GET", "/api/auth/me", { headers });
    await expectProblem(res, 401, "/problems/unauthorized");
    expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer realm="edge-users"/);
  });

  it("an expired session → 401", async () => {
    const user = await seedUser();
    const { token } = await seedSession(user, new Date(Date.now() - 1000));
    await expectProblem(await api("GET", "/api/auth/me", { token }), 401, "/problems/unauthorized");
  });

  it("the scheme is case-insensitive (RFC 7235)", async () => {
    const { token } = await signedIn("member");
    expect((await api("GET", "/api/auth/me", { headers: { Authorization: `bearer ${token}` } })).status).toBe(200);
  });
});

describe("POST /api/auth/logout", () => {
  it("→ 204; that token stops working at once, the user's other sessions do not", async () => {
    const { user, token } = await signedIn("member");
    const other = await seedSession(user);
    const res = await api("POST", "/api/auth/logout", { token });
    expect(res.status).toBe(204);
    expect((await api("GET", "/api/auth/me", { token })).status).toBe(401);
    expect((await api("GET", "/api/auth/me", { token: other.token })).status).toBe(200);
    expect(await sessionCount(user.id)).toBe(1);
  });

  it("anonymous → 401; logging out twice → 401 the second time", async () => {
    await expectProblem(await api("POST", "/api/auth/logout"), 401, "/problems/unauthorized");
    const { token } = await signedIn("member");
    expect((await api("POST", "/api/auth/logout", { token })).status).toBe(204);
    await expectProblem(await api("POST", "/api/auth/logout", { token }), 401, "/problems/unauthorized");
  });
});
