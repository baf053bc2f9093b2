import { describe, expect, it } from "vitest";
import type { Actor } from "../src/authz/actor";
import { type Action, actions, can } from "../src/authz/policy";
import { newUserBody, seedUser, signedIn, snapshot } from "./helpers/fixtures";
import { api } from "./helpers/http";

/**
 * Every protected route against every kind of caller. Each row sets up a fresh target user, so
 * rows are independent; writes that should be refused are checked to have changed nothing.
 */
type Caller = "anonymous" | "member" | "owner" | "admin";

async function tokenFor(caller: Caller, ownerToken: string): Promise<string | undefined> {
  if (caller === "anonymous") return undefined;
  if (caller === "owner") return ownerToken;
  return (await signedIn(caller)).token;
}

const matrix: {
  route: string;
  /** The policy action (src/authz/policy.ts) the route asks about; none: signing in is enough. */
  action?: Action;
  call: (id: string, token?: string) => Promise<Response>;
  expected: Record<Caller, number>;
}[] = [
  {
    route: "GET /api/users",
    action: "users:list",
    call: (_, token) => api("GET", "/api/users", { token }),
    expected: { anonymous: 401, member: 403, owner: 403, admin: 200 },
  },
  {
    route: "PATCH /api/users/:id (name)",
    action: "user:update",
    call: (id, token) => api("PATCH", `/api/users/${id}`, { token, body: { name: "Changed" } }),
    expected: { anonymous: 401, member: 403, owner: 200, admin: 200 },
  },
  {
    route: "PATCH /api/users/:id (role)",
    action: "users:administer",
    call: (id, token) => api("PATCH", `/api/users/${id}`, { token, body: { role: "admin" } }),
    expected: { anonymous: 401, member: 403, owner: 403, admin: 200 },
  },
  {
    route: "PATCH /api/users/:id (status)",
    action: "users:administer",
    call: (id, token) => api("PATCH", `/api/users/${id}`, { token, body: { status: "disabled" } }),
    expected: { anonymous: 401, member: 403, owner: 403, admin: 200 },
  },
  {
    route: "DELETE /api/users/:id",
    action: "user:delete",
    call: (id, token) => api("DELETE", `/api/users/${id}`, { token }),
    expected: { anonymous: 401, member: 403, owner: 204, admin: 204 },
  },
  {
    route: "POST /api/users (role)",
    action: "users:administer",
    call: (_, token) => api("POST", "/api/users", { token, body: newUserBody({ role: "admin" }) }),
    expected: { anonymous: 403, member: 403, owner: 403, admin: 201 },
  },
  {
    route: "GET /api/users/:id/sessions",
    action: "users:administer",
    call: (id, token) => api("GET", `/api/users/${id}/sessions`, { token }),
    expected: { anonymous: 401, member: 403, owner: 403, admin: 200 },
  },
  {
    route: "DELETE /api/users/:id/sessions",
    action: "users:administer",
    call: (id, token) => api("DELETE", `/api/users/${id}/sessions`, { token }),
    expected: { anonymous: 401, member: 403, owner: 403, admin: 204 },
  },
  {
    route: "POST /api/webhooks",
    action: "webhooks:manage",
    call: (_, token) =>
      api("POST", "/api/webhooks", { token, body: { url: "https://receiver.example.com/hook", events: ["*"] } }),
    expected: { anonymous: 401, member: 403, owner: 403, admin: 201 },
  },
  {
    route: "GET /api/webhooks",
    action: "webhooks:manage",
    call: (_, token) => api("GET", "/api/webhooks", { token }),
    expected: { anonymous: 401, member: 403, owner: 403, admin: 200 },
  },
  {
    route: "GET /api/audit-events",
    action: "audit:read",
    call: (_, token) => api("GET", "/api/audit-events", { token }),
    expected: { anonymous: 401, member: 403, owner: 403, admin: 200 },
  },
  {
    route: "GET /api/auth/events",
    call: (_, token) => api("GET", "/api/auth/events", { token }),
    expected: { anonymous: 401, member: 200, owner: 200, admin: 200 },
  },
  {
    route: "GET /api/auth/me",
    call: (_, token) => api("GET", "/api/auth/me", { token }),
    expected: { anonymous: 401, member: 200, owner: 200, admin: 200 },
  },
  {
    route: "POST /api/auth/logout",
    call: (_, token) => api("POST", "/api/auth/logout", { token }),
    expected: { anonymous: 401, member: 204, owner: 204, admin: 204 },
  },
];

describe("the route matrix agrees with the policy", () => {
  // Callers as the policy sees them, aimed at the owner's id.
  const OWNER = "owner-id";
  const as = (role: "admin" | "member", id: string) => ({ user: { id, role } }) as Actor;
  const policyCallers = {
    member: as("member", "other-id"),
    owner: as("member", OWNER),
    admin: as("admin", "admin-id"),
  };

  it("every action of the policy is exercised over HTTP here", () => {
    expect(new Set([...matrix.flatMap((row) => row.action ?? []), "user:read-private"])).toEqual(new Set(actions));
  });

  it.each(matrix.filter((row) => row.action))("$route: allowed exactly where can() allows", ({ action, expected }) => {
    for (const [caller, actor] of Object.entries(policyCallers)) {
      const allowed = can(actor, action as Action, { userId: OWNER });
      expect([caller, expected[caller as Caller] < 300]).toEqual([caller, allowed]);
    }
  });
});

describe.each(matrix)("$route", ({ call, expected }) => {
  it.each(Object.entries(expected) as [Caller, number][])("by %s → %i", async (caller, status) => {
    const { user: owner, token: ownerToken } = await signedIn("member");
    const token = await tokenFor(caller, ownerToken);
    const before = status >= 400 ? await snapshot() : undefined;
    const res = await call(owner.id, token);
    expect(res.status).toBe(status);
    if (status === 401) expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer/);
    if (before) expect(await snapshot()).toEqual(before);
  });
});

describe("GET /api/users/:id views (user:read-private)", () => {
  it.each([
    ["anonymous", false],
    ["member", false],
    ["owner", true],
    ["admin", true],
  ] as [Caller, boolean][])("by %s → full view: %s", async (caller, full) => {
    const { user: owner, token: ownerToken } = await signedIn("member");
    const res = await api("GET", `/api/users/${owner.id}`, { token: await tokenFor(caller, ownerToken) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect("email" in body).toBe(full);
    expect("role" in body).toBe(full);
    expect(body.id).toBe(owner.id);
  });

  it("a member sees no other user's email, neither in a profile nor in the (forbidden) list", async () => {
    const target = await seedUser();
    const { token } = await signedIn("member");
    const responses = await Promise.all([
      api("GET", `/api/users/${target.id}`, { token }),
      api("GET", `/api/users?q=${target.email}`, { token }),
    ]);
    for (const res of responses) expect(await res.text()).not.toContain(target.email);
  });
});
