import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { newId } from "../src/lib/ids";
import { generateToken, hashToken } from "../src/lib/tokens";
import { d1RefusingBatches } from "./helpers/bindings";
import { newUserBody, PASSWORD, seedLinkToken, seedUser, signedIn, snapshot } from "./helpers/fixtures";
import { api, apiWith, expectProblem, isolate } from "./helpers/http";
import { WRITES } from "./helpers/writes";

type EventRow = {
  id: string;
  type: string;
  occurred_at: number;
  actor_user_id: string | null;
  actor_ip: string | null;
  actor_user_agent: string | null;
  target_type: string;
  target_id: string;
  data: string;
  request_id: string | null;
};
type EventView = { id: string; type: string; actor: { userId: string | null }; target: { id: string } };
type EventList = { data: EventView[]; nextCursor: string | null };

const AGENT = "AuditTest/1.0";
const NEW_PASSWORD = "another long passphrase";

async function eventsOf(targetId: string, type?: string): Promise<EventRow[]> {
  const { results } = await env.DB.prepare(
    `select * from audit_events where target_id = ?${type ? " and type = ?" : ""} order by occurred_at, id`,
  )
    .bind(...(type ? [targetId, type] : [targetId]))
    .all<EventRow>();
  return results;
}

async function countOf(type: string): Promise<number> {
  const row = await env.DB.prepare("select count(*) as n from audit_events where type = ?")
    .bind(type)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

/** No secret of the test in any recorded column: the password, a bearer token, a hash. */
function expectNoSecret(rows: EventRow[], ...secrets: string[]) {
  const text = JSON.stringify(rows);
  for (const secret of [PASSWORD, NEW_PASSWORD, "$scrypt", ...secrets]) expect(text).not.toContain(secret);
}

beforeEach(() => {
  vi.spyOn(console, "warn").mockImplementation(() => {});
  vi.spyOn(console, "error").mockImplementation(() => {});
});
afterEach(() => vi.restoreAllMocks());

describe("each write records its events, with where the request came from", () => {
  it("sign-up → user.created: no actor, the client's address, agent and request id", async () => {
    const res = await api("POST", "/api/users", {
      body: newUserBody(),
      headers: { "User-Agent": AGENT, "CF-Connecting-IP": "203.0.113.7" },
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    const rows = await eventsOf(id);
    expect(rows).toEqual([
      expect.objectContaining({
        type: "user.created",
        actor_user_id: null,
        actor_ip: "203.0.113.7",
        actor_user_agent: AGENT,
        target_type: "user",
        target_id: id,
        request_id: res.headers.get("X-Request-Id"),
      }),
    ]);
    expect(JSON.parse(rows[0]?.data ?? "")).toEqual({ role: "member", status: "active", by: "sign_up" });
    expectNoSecret(rows);
  });

  it("an admin's creation → user.created by the admin", async () => {
    const admin = await signedIn("admin");
    const res = await api("POST", "/api/users", { token: admin.token, body: newUserBody({ role: "admin" }) });
    const { id } = (await res.json()) as { id: string };
    const [row] = await eventsOf(id);
    expect(row).toMatchObject({ type: "user.created", actor_user_id: admin.user.id });
    expect(JSON.parse(row?.data ?? "")).toEqual({ role: "admin", status: "active", by: "admin" });
  });

  it("PATCH of the name → user.updated naming the field; the same name again → no event", async () => {
    const { user, token } = await signedIn();
    expect((await api("PATCH", `/api/users/${user.id}`, { token, body: { name: "Renamed" } })).status).toBe(200);
    expect((await api("PATCH", `/api/users/${user.id}`, { token, body: { name: "Renamed" } })).status).toBe(200);
    const rows = await eventsOf(user.id);
    expect(rows.map((row) => [row.type, JSON.parse(row.data), row.actor_user_id])).toEqual([
      ["user.updated", { fields: ["name"] }, user.id],
    ]);
  });

  it("an admin's role and status change → user.updated, user.role_changed, user.status_changed", async () => {
    const admin = await signedIn("admin");
    const user = await seedUser();
    const res = await api("PATCH", `/api/users/${user.id}`, {
      token: admin.token,
      body: { role: "admin", status: "disabled" },
    });
    expect(res.status).toBe(200);
    const rows = await eventsOf(user.id);
    expect(rows.map((row) => [row.type, JSON.parse(row.data)])).toEqual([
      ["user.updated", { fields: ["role", "status"] }],
      ["user.role_changed", { from: "member", to: "admin" }],
      ["user.status_changed", { from: "active", to: "disabled" }],
    ]);
    expect(rows.every((row) => row.actor_user_id === admin.user.id)).toBe(true);
  });

  it("the owner's password and email change → password.changed, user.updated, email.changed; no secret", async () => {
    const { user, token } = await signedIn();
    const email = `moved_${newId().slice(-8)}@example.com`;
    const res = await api("PATCH", `/api/users/${user.id}`, {
      token,
      body: { password: NEW_PASSWORD, email, currentPassword: PASSWORD },
    });
    expect(res.status).toBe(200);
    const rows = await eventsOf(user.id);
    expect(rows.map((row) => [row.type, JSON.parse(row.data)])).toEqual([
      ["user.updated", { fields: ["email"] }],
      ["email.changed", { from: user.email, to: email }],
      ["password.changed", { by: "owner" }],
    ]);
    expectNoSecret(rows, token);
  });

  it("DELETE → user.deleted, which outlives the user", async () => {
    const { user, token } = await signedIn();
    expect((await api("DELETE", `/api/users/${user.id}`, { token })).status).toBe(204);
    expect(await eventsOf(user.id, "user.deleted")).toEqual([
      expect.objectContaining({ actor_user_id: user.id, target_id: user.id }),
    ]);
  });

  it("sign-in → auth.signed_in (password, no second factor, the session); sign-out → auth.signed_out", async () => {
    const user = await seedUser();
    const res = await api("POST", "/api/auth/login", { body: { email: user.email, password: PASSWORD } });
    const { token, accessToken } = (await res.json()) as { token: string; accessToken: string };
    const [signedInRow] = await eventsOf(user.id, "auth.signed_in");
    const data = JSON.parse(signedInRow?.data ?? "") as { sessionId: string };
    expect(data).toEqual({ method: "password", mfa: false, sessionId: expect.any(String) });
    expect(signedInRow).toMatchObject({ actor_user_id: user.id });
    expect((await api("POST", "/api/auth/logout", { token })).status).toBe(204);
    const rows = await eventsOf(user.id);
    expect(rows.map((row) => [row.type, JSON.parse(row.data)])).toEqual([
      ["auth.signed_in", data],
      ["auth.signed_out", { sessionId: data.sessionId }],
    ]);
    expectNoSecret(rows, token, accessToken, await hashToken(token));
  });

  it.each([
    ["a wrong password", { status: "active" as const }, "wrong password!!", "wrong_password"],
    ["a disabled account", { status: "disabled" as const }, PASSWORD, "account_disabled"],
  ])(
    "a failed sign-in of a known account (%s) → auth.sign_in_failed with its reason",
    async (_, seed, password, reason) => {
      const user = await seedUser(seed);
      // apiWith waits for the work after the response, where the event is written.
      await expectProblem(
        await apiWith({}, "POST", "/api/auth/login", { body: { email: user.email, password } }),
        401,
        "/problems/unauthorized",
      );
      const rows = await eventsOf(user.id);
      expect(rows.map((row) => [row.type, JSON.parse(row.data), row.actor_user_id])).toEqual([
        ["auth.sign_in_failed", { reason }, null],
      ]);
      expectNoSecret(rows, password);
    },
  );

  it("a failed sign-in of an unknown email records nothing", async () => {
    const before = await countOf("auth.sign_in_failed");
    const res = await apiWith({}, "POST", "/api/auth/login", {
      body: { email: `nobody_${newId()}@example.com`, password: PASSWORD },
    });
    expect(res.status).toBe(401);
    expect(await countOf("auth.sign_in_failed")).toBe(before);
  });

  it("revoking a session, the others, and an admin's sign-out-everywhere → session.revoked", async () => {
    const { user, token, sessionId } = await signedIn();
    const other = await api("POST", "/api/auth/login", { body: { email: user.email, password: PASSWORD } });
    const { token: otherToken } = (await other.json()) as { token: string };
    const sessions = (await (await api("GET", "/api/auth/sessions", { token })).json()) as { data: { id: string }[] };
    const otherId = sessions.data.find((session) => session.id !== sessionId)?.id;
    expect((await api("DELETE", `/api/auth/sessions/${otherId}`, { token })).status).toBe(204);
    await api("POST", "/api/auth/login", { body: { email: user.email, password: PASSWORD } });
    expect((await api("DELETE", "/api/auth/sessions", { token })).status).toBe(204);
    const admin = await signedIn("admin");
    expect((await api("DELETE", `/api/users/${user.id}/sessions`, { token: admin.token })).status).toBe(204);
    const rows = await eventsOf(user.id, "session.revoked");
    expect(rows.map((row) => [JSON.parse(row.data), row.actor_user_id])).toEqual([
      [{ sessionId: otherId }, user.id],
      [{ scope: "others" }, user.id],
      [{ scope: "all" }, admin.user.id],
    ]);
    expectNoSecret(rows, token, otherToken);
    // Nothing left to revoke: no event.
    expect((await api("DELETE", `/api/users/${user.id}/sessions`, { token: admin.token })).status).toBe(204);
    expect(await eventsOf(user.id, "session.revoked")).toHaveLength(3);
  });

  it("a reset link → password.reset; a verification link → email.verified; neither has an actor", async () => {
    const user = await seedUser();
    const reset = generateToken();
    await seedLinkToken(user, "reset_password", await hashToken(reset), Date.now() + 600_000);
    const confirmed = await api("POST", "/api/auth/password-reset/confirm", {
      body: { token: reset, password: NEW_PASSWORD },
    });
    expect(confirmed.status).toBe(204);
    const other = await seedUser();
    const verify = generateToken();
    await seedLinkToken(other, "verify_email", await hashToken(verify), Date.now() + 600_000);
    expect((await api("POST", "/api/auth/email-verification/confirm", { body: { token: verify } })).status).toBe(200);
    const rows = [...(await eventsOf(user.id)), ...(await eventsOf(other.id))];
    expect(rows.map((row) => [row.type, row.actor_user_id, row.target_id])).toEqual([
      ["password.reset", null, user.id],
      ["email.verified", null, other.id],
    ]);
    expectNoSecret(rows, reset, verify);
  });

  it("a key rotation made by the cron → signing_key.rotated, with no actor and no request", async () => {
    vi.spyOn(console, "log").mockImplementation(() => {});
    await api("POST", "/api/auth/login", { body: { email: (await seedUser()).email, password: PASSWORD } });
    await env.DB.prepare("insert or ignore into key_rotation_requests (id, requested_at) values ('signing-key', ?)")
      .bind(Date.now())
      .run();
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "* * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    const { results } = await env.DB.prepare(
      "select * from audit_events where type = 'signing_key.rotated'",
    ).all<EventRow>();
    const kid = (await env.DB.prepare("select kid from signing_keys order by signs_from desc").first<{ kid: string }>())
      ?.kid;
    expect(results).toEqual([
      expect.objectContaining({
        target_type: "signing_key",
        target_id: kid,
        actor_user_id: null,
        actor_ip: null,
        request_id: null,
      }),
    ]);
    expect(JSON.parse(results[0]?.data ?? "")).toMatchObject({ reason: "requested" });
    expect(results[0]?.data).not.toMatch(/private|"d"/i);
  });
});

describe("a PATCH's events say what the write changed, not what a stale copy said", () => {
  it("a role changed in D1 behind the cache: the PATCH re-reads and records the change it made", async () => {
    const target = await seedUser({ role: "admin" });
    const admin = await signedIn("admin");
    // The cache now holds the user as an admin…
    expect((await api("GET", `/api/users/${target.id}`, { token: admin.token })).status).toBe(200);
    // …while another location's write demotes it.
    await env.DB.prepare("update users set role = 'member', version = version + 1 where id = ?").bind(target.id).run();
    const res = await api("PATCH", `/api/users/${target.id}`, { token: admin.token, body: { role: "admin" } });
    expect(res.status).toBe(200);
    const events = await env.DB.prepare(
      "select type, data from audit_events where target_id = ? and type = 'user.role_changed'",
    )
      .bind(target.id)
      .all<{ type: string; data: string }>();
    expect(events.results.map((row) => JSON.parse(row.data))).toEqual([{ from: "member", to: "admin" }]);
  });
});

describe("a write refused or failed leaves no event", () => {
  it("a stale If-Match → 412, no change, no event", async () => {
    const { user, token } = await signedIn();
    const res = await api("PATCH", `/api/users/${user.id}`, {
      token,
      body: { name: "Late" },
      headers: { "If-Match": '"v99"' },
    });
    expect(res.status).toBe(412);
    expect(await eventsOf(user.id)).toEqual([]);
  });

  it("a demoted admin's access token (refused by the write guard) → 403, no change, no event", async () => {
    const admin = await seedUser({ role: "admin" });
    const login = await api("POST", "/api/auth/login", { body: { email: admin.email, password: PASSWORD } });
    const { accessToken } = (await login.json()) as { accessToken: string };
    await env.DB.prepare("update users set role = 'member' where id = ?").bind(admin.id).run();
    const user = await seedUser();
    const res = await api("PATCH", `/api/users/${user.id}`, { token: accessToken, body: { status: "disabled" } });
    expect(res.status).toBe(403);
    expect(await eventsOf(user.id)).toEqual([]);
  });

  it("the last active admin's deletion → 409, no event", async () => {
    await env.DB.prepare("update users set status = 'disabled' where role = 'admin'").run();
    const admin = await signedIn("admin");
    expect((await api("DELETE", `/api/users/${admin.user.id}`, { token: admin.token })).status).toBe(409);
    expect(await eventsOf(admin.user.id, "user.deleted")).toEqual([]);
  });

  it("a wrong currentPassword → 422, and no password.changed", async () => {
    const { user, token } = await signedIn();
    const res = await api("PATCH", `/api/users/${user.id}`, {
      token,
      body: { password: NEW_PASSWORD, currentPassword: "not the password" },
    });
    expect(res.status).toBe(422);
    expect(await eventsOf(user.id, "password.changed")).toEqual([]);
  });

  it.each(WRITES)("%s whose batch fails → 503: neither the change nor its event", async (_, build) => {
    const { method, path, options } = await build();
    const before = await snapshot();
    const res = await isolate({ DB: d1RefusingBatches() }).fetch(method, path, options);
    await expectProblem(res, 503, "/problems/unavailable");
    expect(await snapshot()).toEqual(before);
  });
});

describe("GET /api/audit-events (admins)", () => {
  it("a member → 403; anonymous → 401", async () => {
    const { token } = await signedIn();
    await expectProblem(await api("GET", "/api/audit-events", { token }), 403, "/problems/forbidden");
    expect((await api("GET", "/api/audit-events")).status).toBe(401);
  });

  it("newest first, paged by nextCursor, every filter narrowing the page", async () => {
    const admin = await signedIn("admin");
    const { user, token } = await signedIn();
    const start = new Date(Date.now() - 1);
    for (const name of ["One", "Two", "Three"]) {
      expect((await api("PATCH", `/api/users/${user.id}`, { token, body: { name } })).status).toBe(200);
    }
    const get = async (query: string) => {
      const res = await api("GET", `/api/audit-events?${query}`, { token: admin.token });
      expect(res.status).toBe(200);
      return (await res.json()) as EventList;
    };
    const first = await get(`targetId=${user.id}&limit=2`);
    expect(first.data).toHaveLength(2);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await get(`targetId=${user.id}&limit=2&cursor=${first.nextCursor}`);
    expect(second).toMatchObject({ nextCursor: null });
    const all = [...first.data, ...second.data];
    expect(all.map((event) => event.type)).toEqual(["user.updated", "user.updated", "user.updated"]);
    expect(all.map((event) => event.id)).toEqual(
      all
        .map((event) => event.id)
        .sort()
        .reverse(),
    );
    expect(all[0]).toMatchObject({
      actor: { userId: user.id, ip: expect.any(String), userAgent: null },
      target: { type: "user", id: user.id },
      data: { fields: ["name"] },
      requestId: expect.any(String),
      occurredAt: expect.stringMatching(/Z$/),
    });
    expect((await get(`actorId=${user.id}&type=user.updated`)).data).toHaveLength(3);
    expect((await get(`actorId=${user.id}&type=user.deleted`)).data).toHaveLength(0);
    expect((await get(`targetId=${user.id}&since=${start.toISOString()}`)).data).toHaveLength(3);
    expect((await get(`targetId=${user.id}&until=${start.toISOString()}`)).data).toHaveLength(0);
    const offset = encodeURIComponent(new Date(start.getTime() + 3_600_000).toISOString().replace("Z", "+01:00"));
    expect((await get(`targetId=${user.id}&since=${offset}`)).data).toHaveLength(3);
  });

  it.each([
    ["limit=0"],
    ["limit=101"],
    ["cursor=not-a-cursor"],
    ["type=user.exploded"],
    ["actorId=42"],
    ["since=yesterday"],
    ["since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z"],
    ["sort=oldest"],
  ])("?%s → 400 problem", async (query) => {
    const admin = await signedIn("admin");
    await expectProblem(
      await api("GET", `/api/audit-events?${query}`, { token: admin.token }),
      400,
      "/problems/validation",
    );
  });
});

describe("GET /api/auth/events (the caller's own)", () => {
  it("events the caller did or underwent, and no one else's, paged", async () => {
    const { user, token } = await signedIn();
    const admin = await signedIn("admin");
    await api("PATCH", `/api/users/${user.id}`, { token, body: { name: "Mine" } });
    await api("PATCH", `/api/users/${user.id}`, { token: admin.token, body: { name: "By an admin" } });
    await api("PATCH", `/api/users/${admin.user.id}`, { token: admin.token, body: { name: "Not mine" } });
    const res = await api("GET", "/api/auth/events?limit=1", { token });
    expect(res.status).toBe(200);
    const page = (await res.json()) as EventList;
    expect(page.data).toEqual([expect.objectContaining({ actor: expect.objectContaining({ userId: admin.user.id }) })]);
    const rest = (await (
      await api("GET", `/api/auth/events?cursor=${page.nextCursor}`, { token })
    ).json()) as EventList;
    expect(rest.data.map((event) => event.actor.userId)).toEqual([user.id]);
    expect(rest.nextCursor).toBeNull();
  });

  it("what an admin did to the caller names the admin, but not the admin's address or user agent", async () => {
    const { user, token } = await signedIn();
    const admin = await signedIn("admin");
    const from = { "CF-Connecting-IP": "198.51.100.77", "User-Agent": "AdminBrowser/1.0" };
    await api("PATCH", `/api/users/${user.id}`, {
      token: admin.token,
      headers: from,
      body: { name: "Set by an admin" },
    });
    await api("PATCH", `/api/users/${user.id}`, {
      token,
      headers: { "CF-Connecting-IP": "203.0.113.8", "User-Agent": "MyPhone/2" },
      body: { name: "Set by me" },
    });
    const { data } = (await (await api("GET", "/api/auth/events?limit=10", { token })).json()) as EventList;
    const byAdmin = data.find((event) => event.actor.userId === admin.user.id);
    const byMe = data.find((event) => event.actor.userId === user.id);
    expect(byAdmin?.actor).toEqual({ userId: admin.user.id, ip: null, userAgent: null });
    expect(byMe?.actor).toMatchObject({ userId: user.id, ip: "203.0.113.8", userAgent: "MyPhone/2" });
    // The admins' log keeps where the admin was.
    const log = (await (
      await api("GET", `/api/audit-events?actorId=${admin.user.id}&targetId=${user.id}`, { token: admin.token })
    ).json()) as EventList;
    expect(log.data[0]?.actor).toMatchObject({ ip: "198.51.100.77", userAgent: "AdminBrowser/1.0" });
  });

  it("anonymous → 401; an unknown parameter → 400", async () => {
    expect((await api("GET", "/api/auth/events")).status).toBe(401);
    const { token } = await signedIn();
    await expectProblem(await api("GET", "/api/auth/events?type=user.updated", { token }), 400, "/problems/validation");
  });
});

describe("retention (the cron)", () => {
  it("prunes events older than AUDIT_RETENTION_DAYS, at most 2,000 a run, and keeps the rest", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    const old = Date.now() - 91 * 86_400_000;
    await env.DB.prepare(
      `with recursive n(i) as (select 1 union all select i + 1 from n where i < 2100)
       insert into audit_events (id, type, occurred_at, target_type, target_id, data)
       select 'old-' || i, 'user.updated', ?, 'user', 'pruned-target', '{}' from n`,
    )
      .bind(old)
      .run();
    const { user, token } = await signedIn();
    await api("PATCH", `/api/users/${user.id}`, { token, body: { name: "Kept" } });
    const run = async () => {
      const ctx = createExecutionContext();
      await worker.scheduled(createScheduledController({ cron: "* * * * *" }), env, ctx);
      await waitOnExecutionContext(ctx);
      return log.mock.calls
        .map(([line]) => JSON.parse(line as string))
        .findLast((line) => line.message === "housekeeping done");
    };
    expect(await run()).toMatchObject({ auditEventsPruned: 2000 });
    expect(await run()).toMatchObject({ auditEventsPruned: 100 });
    expect(await eventsOf("pruned-target")).toEqual([]);
    expect(await eventsOf(user.id)).toHaveLength(1);
  });
});
