/**
 * What a stale token may still do (docs/tokens.md, "What a token is trusted for"): an access token
 * whose user is disabled or deleted is a 401 everywhere; one whose admin role or session has gone
 * still reads what anyone may, and is limited as anyone is.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cacheKeys } from "../src/cache/keys";
import { hashToken } from "../src/lib/tokens";
import { newUserBody, PASSWORD, seedUser, userRow } from "./helpers/fixtures";
import { api, expectProblem } from "./helpers/http";

type Login = { token: string; accessToken: string; user: { id: string } };

async function login(email: string): Promise<Login> {
  const res = await api("POST", "/api/auth/login", { body: { email, password: PASSWORD } });
  expect(res.status).toBe(200);
  return (await res.json()) as Login;
}

const someone = () => seedUser({ name: "Someone" });

describe("a disabled or deleted user's access token is a 401 everywhere", () => {
  for (const how of ["disabled by an admin", "disabled in D1 behind the cache's back", "deleted"] as const) {
    it(`${how}: its sessions, another user's profile, /me`, async () => {
      const [user, other] = [await seedUser(), await someone()];
      const { accessToken, token } = await login(user.email);
      if (how === "disabled by an admin") {
        const admin = await login((await seedUser({ role: "admin" })).email);
        const res = await api("PATCH", `/api/users/${user.id}`, { token: admin.token, body: { status: "disabled" } });
        expect(res.status).toBe(200);
      } else if (how === "deleted") {
        expect((await api("DELETE", `/api/users/${user.id}`, { token })).status).toBe(204);
      } else {
        await env.DB.prepare("update users set status = 'disabled' where id = ?").bind(user.id).run();
        await env.CACHE.delete(cacheKeys.user(user.id));
      }
      for (const path of ["/api/auth/sessions", `/api/users/${other.id}`, "/api/auth/me", `/api/users/${user.id}`]) {
        await expectProblem(await api("GET", path, { token: accessToken }), 401, "/problems/unauthorized");
      }
      // Anonymous, the other profile reads as ever.
      expect((await api("GET", `/api/users/${other.id}`)).status).toBe(200);
    });
  }

  it("a session token whose user was disabled behind the cache's back, with no KV copy of the session: 401", async () => {
    const user = await seedUser();
    const { token } = await login(user.email);
    expect((await api("GET", "/api/auth/me", { token })).status).toBe(200);
    await env.DB.prepare("update users set status = 'disabled' where id = ?").bind(user.id).run();
    await env.CACHE.delete(cacheKeys.session(await hashToken(token)));
    await env.CACHE.delete(cacheKeys.user(user.id));
    for (const path of ["/api/auth/me", "/api/auth/sessions", `/api/users/${user.id}`]) {
      await expectProblem(await api("GET", path, { token }), 401, "/problems/unauthorized");
    }
    const before = await userRow(user.id);
    await expectProblem(
      await api("PATCH", `/api/users/${user.id}`, { token, body: { name: "Back" } }),
      401,
      "/problems/unauthorized",
    );
    expect(await userRow(user.id)).toEqual(before);
  });
});

describe("an admin's token after the role or the session has gone", () => {
  async function formerAdmin(how: "demoted" | "signed out") {
    const admin = await seedUser({ role: "admin" });
    const session = await login(admin.email);
    if (how === "demoted") {
      const other = await login((await seedUser({ role: "admin" })).email);
      const res = await api("PATCH", `/api/users/${admin.id}`, { token: other.token, body: { role: "member" } });
      expect(res.status).toBe(200);
    } else {
      expect((await api("POST", "/api/auth/logout", { token: session.token })).status).toBe(204);
    }
    return session.accessToken;
  }

  for (const how of ["demoted", "signed out"] as const) {
    it(`${how}: a public profile still reads, as anyone sees it (not 403, no private fields)`, async () => {
      const accessToken = await formerAdmin(how);
      const other = await someone();
      const res = await api("GET", `/api/users/${other.id}`, { token: accessToken });
      expect(res.status).toBe(200);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ id: other.id, name: "Someone" });
      expect(body).not.toHaveProperty("email");
      expect(body).not.toHaveProperty("role");
      // Listing users still rests on the role and the session: refused.
      expect([401, 403]).toContain((await api("GET", "/api/users", { token: accessToken })).status);
    });

    it(`${how}: sign-ups with the token are limited per address like anyone's`, async () => {
      const accessToken = await formerAdmin(how);
      const headers = { "CF-Connecting-IP": `198.51.100.${Math.floor(Math.random() * 250)}` };
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await api("POST", "/api/users", { token: accessToken, headers, body: newUserBody() });
        statuses.push(res.status);
      }
      expect(statuses.slice(0, 5)).toEqual([201, 201, 201, 201, 201]);
      expect(statuses[5]).toBe(429);
    });
  }

  it("a live admin's sign-ups are not limited per address", async () => {
    const { accessToken } = await login((await seedUser({ role: "admin" })).email);
    const headers = { "CF-Connecting-IP": `203.0.113.${Math.floor(Math.random() * 250)}` };
    for (let i = 0; i < 7; i++) {
      const res = await api("POST", "/api/users", { token: accessToken, headers, body: newUserBody() });
      expect(res.status).toBe(201);
      expect(res.headers.get("RateLimit-Policy") ?? "").not.toContain("signup-ip");
    }
  });
});
