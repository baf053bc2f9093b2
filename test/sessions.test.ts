/**
 * Session management (API.md v1.1): the caller's live sessions, revoking one, signing out
 * everywhere else; with a session token or an access token; what the database holds afterwards.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { PASSWORD, seedUser } from "./helpers/fixtures";
import { api, expectProblem } from "./helpers/http";
import { sidOf } from "./helpers/jwt";

type Login = { token: string; accessToken: string; user: { id: string } };
type SessionView = { id: string; createdAt: string; expiresAt: string; current: boolean; userAgent: string | null };

async function login(email: string, userAgent?: string): Promise<Login> {
  const headers: Record<string, string> = userAgent === undefined ? {} : { "User-Agent": userAgent };
  const res = await api("POST", "/api/auth/login", { body: { email, password: PASSWORD }, headers });
  expect(res.status).toBe(200);
  return (await res.json()) as Login;
}

async function list(token: string): Promise<SessionView[]> {
  const res = await api("GET", "/api/auth/sessions", { token });
  expect(res.status).toBe(200);
  expect(res.headers.get("cache-control")).toContain("no-store");
  return ((await res.json()) as { data: SessionView[] }).data;
}

async function sessionIds(userId: string): Promise<string[]> {
  const { results } = await env.DB.prepare("select id from sessions where user_id = ? order by id")
    .bind(userId)
    .all<{ id: string }>();
  return results.map((row) => row.id);
}

describe("GET /api/auth/sessions", () => {
  it("lists the caller's live sessions, newest first, marks the current one, with the user agent", async () => {
    const user = await seedUser();
    const laptop = await login(user.email, "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0");
    const phone = await login(user.email, "EdgeUsersApp/2.1 (iPhone)");
    await login((await seedUser()).email, "someone else");

    const sessions = await list(laptop.token);
    expect(sessions.map((s) => s.id)).toEqual([sidOf(phone.accessToken), sidOf(laptop.accessToken)]);
    expect(sessions.map((s) => [s.current, s.userAgent])).toEqual([
      [false, "EdgeUsersApp/2.1 (iPhone)"],
      [true, "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"],
    ]);
    for (const session of sessions) {
      expect(Object.keys(session).sort()).toEqual(["createdAt", "current", "expiresAt", "id", "userAgent"]);
      expect(Date.parse(session.expiresAt)).toBeGreaterThan(Date.parse(session.createdAt));
    }
    // With the other session's access token, the other one is current.
    expect((await list(phone.accessToken)).map((s) => s.current)).toEqual([true, false]);
  });

  it("does not list expired sessions", async () => {
    const user = await seedUser();
    const kept = await login(user.email);
    const old = await login(user.email);
    await env.DB.prepare("update sessions set expires_at = ? where id = ?")
      .bind(Date.now() - 1000, sidOf(old.accessToken))
      .run();
    expect((await list(kept.token)).map((s) => s.id)).toEqual([sidOf(kept.accessToken)]);
  });

  it("stores the user agent printable, whitespace collapsed, at most 256 characters; none → null", async () => {
    const user = await seedUser();
    const messy = await login(user.email, `  Agent\u0007/1.0\t\t(with\u202Econtrols)  ${"x".repeat(400)}`);
    const none = await login(user.email, "");
    const sessions = await list(messy.token);
    const stored = sessions.find((s) => s.current)?.userAgent ?? "";
    expect(stored.startsWith("Agent /1.0 (withcontrols) xxx")).toBe(true);
    expect(stored).toHaveLength(256);
    expect(sessions.find((s) => s.id === sidOf(none.accessToken))?.userAgent).toBeNull();
  });

  it("without credentials → 401", async () => {
    await expectProblem(await api("GET", "/api/auth/sessions"), 401, "/problems/unauthorized");
  });
});

describe("DELETE /api/auth/sessions/{id}", () => {
  it("revokes another session of the caller: 204, its tokens stop at once, the row is gone", async () => {
    const user = await seedUser();
    const here = await login(user.email);
    const there = await login(user.email);
    expect((await api("GET", "/api/auth/me", { token: there.token })).status).toBe(200);

    const res = await api("DELETE", `/api/auth/sessions/${sidOf(there.accessToken)}`, { token: here.token });
    expect(res.status).toBe(204);
    expect(await sessionIds(user.id)).toEqual([sidOf(here.accessToken)]);
    await expectProblem(await api("GET", "/api/auth/me", { token: there.token }), 401, "/problems/unauthorized");
    // Its access token cannot write either.
    const write = await api("PATCH", `/api/users/${user.id}`, { token: there.accessToken, body: { name: "Nope" } });
    await expectProblem(write, 401, "/problems/unauthorized");
    expect((await api("GET", "/api/auth/me", { token: here.token })).status).toBe(200);
  });

  it("another user's session id, or an unknown one → 404, and nothing is revoked", async () => {
    const me = await seedUser();
    const other = await seedUser();
    const mine = await login(me.email);
    const theirs = await login(other.email);
    for (const id of [sidOf(theirs.accessToken), "01936b2e-7c4a-7d1e-9a3b-5f0c2d8e4a61", "not-an-id"]) {
      await expectProblem(
        await api("DELETE", `/api/auth/sessions/${id}`, { token: mine.accessToken }),
        404,
        "/problems/not-found",
      );
    }
    expect(await sessionIds(other.id)).toEqual([sidOf(theirs.accessToken)]);
    expect((await api("GET", "/api/auth/me", { token: theirs.token })).status).toBe(200);
  });

  it("revoking the current session signs out", async () => {
    const user = await seedUser();
    const session = await login(user.email);
    const res = await api("DELETE", `/api/auth/sessions/${sidOf(session.accessToken)}`, { token: session.token });
    expect(res.status).toBe(204);
    expect(await sessionIds(user.id)).toEqual([]);
    await expectProblem(await api("GET", "/api/auth/me", { token: session.token }), 401, "/problems/unauthorized");
  });

  it("with a revoked session's access token → 401 and nothing is revoked", async () => {
    const user = await seedUser();
    const gone = await login(user.email);
    const kept = await login(user.email);
    expect((await api("POST", "/api/auth/logout", { token: gone.token })).status).toBe(204);
    const res = await api("DELETE", `/api/auth/sessions/${sidOf(kept.accessToken)}`, { token: gone.accessToken });
    await expectProblem(res, 401, "/problems/unauthorized");
    expect(await sessionIds(user.id)).toEqual([sidOf(kept.accessToken)]);
  });
});

describe("DELETE /api/auth/sessions (sign out everywhere else)", () => {
  it("revokes every other session of the caller, keeps the current one and other users' sessions", async () => {
    const user = await seedUser();
    const other = await seedUser();
    const [a, b, c] = [await login(user.email), await login(user.email), await login(user.email)];
    const theirs = await login(other.email);

    const res = await api("DELETE", "/api/auth/sessions", { token: b.accessToken });
    expect(res.status).toBe(204);
    expect(await sessionIds(user.id)).toEqual([sidOf(b.accessToken)]);
    for (const gone of [a, c])
      await expectProblem(await api("GET", "/api/auth/me", { token: gone.token }), 401, "/problems/unauthorized");
    expect((await api("GET", "/api/auth/me", { token: b.token })).status).toBe(200);
    expect(await sessionIds(other.id)).toEqual([sidOf(theirs.accessToken)]);
    // Nothing else to revoke: still 204.
    expect((await api("DELETE", "/api/auth/sessions", { token: b.token })).status).toBe(204);
  });
});

describe("an admin and another user's sessions: /api/users/{id}/sessions", () => {
  it("lists them for an admin; a member (even for their own id) is 403; an unknown user 404", async () => {
    const admin = await login((await seedUser({ role: "admin" })).email);
    const member = await seedUser();
    const phone = await login(member.email, "EdgeUsersApp/2.1 (iPhone)");
    const listed = await api("GET", `/api/users/${member.id}/sessions`, { token: admin.accessToken });
    expect(listed.status).toBe(200);
    const { data } = (await listed.json()) as { data: SessionView[] };
    expect(data.map((s) => [s.id, s.userAgent, s.current])).toEqual([
      [sidOf(phone.accessToken), "EdgeUsersApp/2.1 (iPhone)", false],
    ]);
    await expectProblem(
      await api("GET", `/api/users/${member.id}/sessions`, { token: phone.token }),
      403,
      "/problems/forbidden",
    );
    await expectProblem(
      await api("GET", "/api/users/01936b2e-7c4a-7d1e-9a3b-5f0c2d8e4a61/sessions", { token: admin.token }),
      404,
      "/problems/not-found",
    );
  });

  it("an admin signs a user out everywhere: 204, the user's tokens stop, other users' sessions stay", async () => {
    const adminUser = await seedUser({ role: "admin" });
    const admin = await login(adminUser.email);
    const member = await seedUser();
    const [a, b] = [await login(member.email), await login(member.email)];
    const bystander = await login((await seedUser()).email);
    const res = await api("DELETE", `/api/users/${member.id}/sessions`, { token: admin.accessToken });
    expect(res.status).toBe(204);
    expect(await sessionIds(member.id)).toEqual([]);
    for (const gone of [a, b]) {
      await expectProblem(await api("GET", "/api/auth/me", { token: gone.token }), 401, "/problems/unauthorized");
      await expectProblem(
        await api("PATCH", `/api/users/${member.id}`, { token: gone.accessToken, body: { name: "X" } }),
        401,
        "/problems/unauthorized",
      );
    }
    expect(await sessionIds(bystander.user.id)).toEqual([sidOf(bystander.accessToken)]);
    // On themselves, an admin keeps the session they act from.
    const other = await login(adminUser.email);
    expect((await api("DELETE", `/api/users/${adminUser.id}/sessions`, { token: admin.token })).status).toBe(204);
    expect(await sessionIds(adminUser.id)).toEqual([sidOf(admin.accessToken)]);
    await expectProblem(await api("GET", "/api/auth/me", { token: other.token }), 401, "/problems/unauthorized");
  });

  it("a member, or a demoted admin's unexpired access token, revokes nothing (403)", async () => {
    const adminUser = await seedUser({ role: "admin" });
    const admin = await login(adminUser.email);
    const member = await seedUser();
    const session = await login(member.email);
    await expectProblem(
      await api("DELETE", `/api/users/${member.id}/sessions`, { token: session.token }),
      403,
      "/problems/forbidden",
    );
    await env.DB.prepare("update users set role = 'member' where id = ?").bind(adminUser.id).run();
    await expectProblem(
      await api("DELETE", `/api/users/${member.id}/sessions`, { token: admin.accessToken }),
      403,
      "/problems/forbidden",
    );
    expect(await sessionIds(member.id)).toEqual([sidOf(session.accessToken)]);
    // Nor does it learn which ids exist: an unknown id is the same 403.
    await expectProblem(
      await api("DELETE", "/api/users/01936b2e-7c4a-7d1e-9a3b-5f0c2d8e4a61/sessions", { token: admin.accessToken }),
      403,
      "/problems/forbidden",
    );
  });
});
