import { describe, expect, it } from "vitest";
import { seedSession, seedUser, sessionCount, signedIn, snapshot, userRow } from "./helpers/fixtures";
import { api, expectProblem } from "./helpers/http";

describe("DELETE /api/users/:id", () => {
  it("owner → 204 with no body; the user and all its sessions are gone", async () => {
    const { user, token } = await signedIn("member");
    await seedSession(user);
    const res = await api("DELETE", `/api/users/${user.id}`, { token });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
    expect(await userRow(user.id)).toBeNull();
    expect(await sessionCount(user.id)).toBe(0);
    expect((await api("GET", "/api/auth/me", { token })).status).toBe(401);
    expect((await api("GET", `/api/users/${user.id}`)).status).toBe(404);
  });

  it("an admin → 204 for any user", async () => {
    const user = await seedUser();
    const { token } = await signedIn("admin");
    expect((await api("DELETE", `/api/users/${user.id}`, { token })).status).toBe(204);
    expect(await userRow(user.id)).toBeNull();
  });

  it("anonymous → 401, nothing deleted", async () => {
    const user = await seedUser();
    const before = await snapshot();
    await expectProblem(await api("DELETE", `/api/users/${user.id}`), 401, "/problems/unauthorized");
    expect(await snapshot()).toEqual(before);
  });

  it("another member → 403, nothing deleted", async () => {
    const user = await seedUser();
    const { token } = await signedIn("member");
    const before = await snapshot();
    await expectProblem(await api("DELETE", `/api/users/${user.id}`, { token }), 403, "/problems/forbidden");
    expect(await snapshot()).toEqual(before);
  });

  it("unknown id (admin) → 404; deleting twice → 404 the second time", async () => {
    const user = await seedUser();
    const { token } = await signedIn("admin");
    await expectProblem(
      await api("DELETE", "/api/users/01936b2e-7c4a-7d1e-9a3b-5f0c2d8e4a61", { token }),
      404,
      "/problems/not-found",
    );
    expect((await api("DELETE", `/api/users/${user.id}`, { token })).status).toBe(204);
    await expectProblem(await api("DELETE", `/api/users/${user.id}`, { token }), 404, "/problems/not-found");
  });

  it("the last active admin → 409, nothing deleted; with another admin → 204", async () => {
    const { user, token } = await signedIn("admin");
    // Remove every other active admin this file has made so far.
    const page = (await (await api("GET", "/api/users?role=admin&status=active&limit=100", { token })).json()) as {
      data: { id: string }[];
    };
    for (const other of page.data) {
      if (other.id !== user.id) expect((await api("DELETE", `/api/users/${other.id}`, { token })).status).toBe(204);
    }
    const before = await snapshot();
    const problem = await expectProblem(
      await api("DELETE", `/api/users/${user.id}`, { token }),
      409,
      "/problems/conflict",
    );
    expect(problem.detail).toMatch(/last active admin/);
    expect(await snapshot()).toEqual(before);

    await seedUser({ role: "admin" });
    expect((await api("DELETE", `/api/users/${user.id}`, { token })).status).toBe(204);
  });

  it("a disabled admin does not count as the remaining admin", async () => {
    const { user, token } = await signedIn("admin");
    const page = (await (await api("GET", "/api/users?role=admin&status=active&limit=100", { token })).json()) as {
      data: { id: string }[];
    };
    for (const other of page.data) {
      if (other.id !== user.id) await api("DELETE", `/api/users/${other.id}`, { token });
    }
    await seedUser({ role: "admin", status: "disabled" });
    await expectProblem(await api("DELETE", `/api/users/${user.id}`, { token }), 409, "/problems/conflict");
  });
});
