import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { newUserBody, seedSession, seedUser } from "./helpers/fixtures";
import { api } from "./helpers/http";

async function activeAdmins(): Promise<number> {
  const row = await env.DB.prepare("select count(*) as n from users where role = 'admin' and status = 'active'").first<{
    n: number;
  }>();
  return row?.n ?? 0;
}

/** This file's database with exactly the given admins active: every other admin is demoted. */
async function onlyAdmins(count: number) {
  await env.DB.prepare("update users set role = 'member' where role = 'admin'").run();
  return Promise.all(
    Array.from({ length: count }, async () => {
      const user = await seedUser({ role: "admin" });
      return { user, token: (await seedSession(user)).token };
    }),
  );
}

describe("races end in clean answers, never a 500 or a broken invariant", () => {
  it("concurrent sign-ups with one email: one 201, the rest 409, one row", async () => {
    const email = newUserBody().email;
    const responses = await Promise.all(
      Array.from({ length: 5 }, () => api("POST", "/api/users", { body: newUserBody({ email }) })),
    );
    expect(responses.map((res) => res.status).sort()).toEqual([201, 409, 409, 409, 409]);
    const row = await env.DB.prepare("select count(*) as n from users where email = ?").bind(email).first();
    expect(row).toEqual({ n: 1 });
  });

  it("concurrent sign-ups with one username: one 201, the rest 409", async () => {
    const username = newUserBody().username;
    const responses = await Promise.all(
      Array.from({ length: 4 }, () => api("POST", "/api/users", { body: newUserBody({ username }) })),
    );
    expect(responses.map((res) => res.status).sort()).toEqual([201, 409, 409, 409]);
  });

  it("two admins demoting each other at once: one succeeds, one is refused, an active admin remains", async () => {
    const [a, b] = (await onlyAdmins(2)) as [
      Awaited<ReturnType<typeof onlyAdmins>>[number],
      Awaited<ReturnType<typeof onlyAdmins>>[number],
    ];
    const responses = await Promise.all([
      api("PATCH", `/api/users/${b.user.id}`, { token: a.token, body: { role: "member" } }),
      api("PATCH", `/api/users/${a.user.id}`, { token: b.token, body: { role: "member" } }),
    ]);
    const statuses = responses.map((res) => res.status).sort();
    // Either the second demotion meets the last-admin rule (409), or its author was already demoted (403).
    expect([
      [200, 403],
      [200, 409],
    ]).toContainEqual(statuses);
    expect(await activeAdmins()).toBe(1);
  });

  it("the last admins deleting themselves at once: at most all but one go", async () => {
    const admins = await onlyAdmins(3);
    const responses = await Promise.all(
      admins.map(({ user, token }) => api("DELETE", `/api/users/${user.id}`, { token })),
    );
    expect(responses.map((res) => res.status).sort()).toEqual([204, 204, 409]);
    expect(await activeAdmins()).toBe(1);
  });

  it("concurrent disables of the last two active admins leave one", async () => {
    const admins = await onlyAdmins(2);
    const responses = await Promise.all(
      admins.map(({ user }, i) =>
        api("PATCH", `/api/users/${user.id}`, { token: admins[1 - i]?.token, body: { status: "disabled" } }),
      ),
    );
    expect(responses.every((res) => res.status < 500)).toBe(true);
    expect(await activeAdmins()).toBe(1);
  });
});
