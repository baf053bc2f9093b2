import { describe, expect, it } from "vitest";
import { hasher, PASSWORD, seedSession, seedUser, sessionCount, signedIn, snapshot, userRow } from "./helpers/fixtures";
import { api, expectProblem } from "./helpers/http";

const NEW_PASSWORD = "a brand new passphrase";

describe("PATCH /api/users/:id", () => {
  it("owner changes name, username and email → 200 updated full user, stored normalised", async () => {
    const { user, token } = await signedIn("member");
    const res = await api("PATCH", `/api/users/${user.id}`, {
      token,
      body: {
        name: "New Name",
        username: `NEW_${user.username}`.slice(0, 32),
        email: ` NEW.${user.email.toUpperCase()}`,
        currentPassword: PASSWORD,
      },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, string>;
    expect(body).toMatchObject({
      id: user.id,
      name: "New Name",
      username: `new_${user.username}`.slice(0, 32),
      email: `new.${user.email}`,
      role: "member",
      createdAt: user.createdAt.toISOString(),
    });
    expect(Date.parse(body.updatedAt as string)).toBeGreaterThanOrEqual(user.updatedAt.getTime());
    expect(await userRow(user.id)).toMatchObject({ name: "New Name", email: `new.${user.email}` });
  });

  it("anonymous → 401, nothing written", async () => {
    const user = await seedUser();
    const before = await snapshot();
    await expectProblem(
      await api("PATCH", `/api/users/${user.id}`, { body: { name: "x" } }),
      401,
      "/problems/unauthorized",
    );
    expect(await snapshot()).toEqual(before);
  });

  it("another member → 403, nothing written", async () => {
    const victim = await seedUser();
    const { token } = await signedIn("member");
    const before = await snapshot();
    await expectProblem(
      await api("PATCH", `/api/users/${victim.id}`, { token, body: { name: "Hijacked" } }),
      403,
      "/problems/forbidden",
    );
    expect(await snapshot()).toEqual(before);
  });

  it("an admin → 200 on any user; unknown id → 404", async () => {
    const user = await seedUser();
    const { token } = await signedIn("admin");
    const res = await api("PATCH", `/api/users/${user.id}`, { token, body: { name: "Renamed By Admin" } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ name: "Renamed By Admin" });
    await expectProblem(
      await api("PATCH", "/api/users/01936b2e-7c4a-7d1e-9a3b-5f0c2d8e4a61", { token, body: { name: "x" } }),
      404,
      "/problems/not-found",
    );
  });

  it.each([{ role: "admin" }, { status: "disabled" }, { role: "member" }])(
    "owner sending %o → 403 (only admins change role and status), nothing written",
    async (change) => {
      const { user, token } = await signedIn("member");
      const before = await snapshot();
      await expectProblem(
        await api("PATCH", `/api/users/${user.id}`, { token, body: change }),
        403,
        "/problems/forbidden",
      );
      expect(await snapshot()).toEqual(before);
    },
  );

  it.each([
    [{}, ""],
    [{ passwordHash: "x" }, "passwordHash"],
    [{ id: "other" }, "id"],
    [{ createdAt: "2020-01-01T00:00:00Z" }, "createdAt"],
    [{ email: "nope" }, "email"],
    [{ username: "no spaces" }, "username"],
    [{ currentPassword: PASSWORD }, "currentPassword"],
  ])("body %o → 400 naming '%s', nothing written", async (body, path) => {
    const { user, token } = await signedIn("member");
    const before = await snapshot();
    const problem = await expectProblem(
      await api("PATCH", `/api/users/${user.id}`, { token, body }),
      400,
      "/problems/validation",
    );
    expect(problem.errors).toContainEqual({ path, message: expect.any(String) });
    expect(await snapshot()).toEqual(before);
  });

  it("taking another user's email or username → 409, nothing written", async () => {
    const other = await seedUser();
    const { user, token } = await signedIn("member");
    const before = await snapshot();
    await expectProblem(
      await api("PATCH", `/api/users/${user.id}`, { token, body: { email: other.email, currentPassword: PASSWORD } }),
      409,
      "/problems/conflict",
    );
    await expectProblem(
      await api("PATCH", `/api/users/${user.id}`, { token, body: { username: other.username } }),
      409,
      "/problems/conflict",
    );
    expect(await snapshot()).toEqual(before);
  });

  describe("email (v1.2: the owner re-authenticates)", () => {
    it("the owner without currentPassword → 400 naming it; with a wrong one → 422; nothing written either way", async () => {
      const { user, token } = await signedIn("member");
      const before = await snapshot();
      const missing = await expectProblem(
        await api("PATCH", `/api/users/${user.id}`, { token, body: { email: `taken_over_${user.email}` } }),
        400,
        "/problems/validation",
      );
      expect(missing.errors).toEqual([{ path: "currentPassword", message: "Required to change your own email" }]);
      await expectProblem(
        await api("PATCH", `/api/users/${user.id}`, {
          token,
          body: { email: `taken_over_${user.email}`, currentPassword: "not the password" },
        }),
        422,
        "/problems/unprocessable",
      );
      expect(await snapshot()).toEqual(before);
    });

    it("the owner's access token alone cannot move the email either (422 with a wrong password)", async () => {
      const user = await seedUser();
      const login = await api("POST", "/api/auth/login", { body: { email: user.email, password: PASSWORD } });
      const { accessToken } = (await login.json()) as { accessToken: string };
      await expectProblem(
        await api("PATCH", `/api/users/${user.id}`, {
          token: accessToken,
          body: { email: `moved_${user.email}`, currentPassword: "a guess" },
        }),
        422,
        "/problems/unprocessable",
      );
      expect(await userRow(user.id)).toMatchObject({ email: user.email });
    });

    it("an admin changes another user's email without any password → 200", async () => {
      const { token: admin } = await signedIn("admin");
      const user = await seedUser();
      const res = await api("PATCH", `/api/users/${user.id}`, { token: admin, body: { email: `new_${user.email}` } });
      expect(res.status).toBe(200);
      expect(await userRow(user.id)).toMatchObject({ email: `new_${user.email}` });
    });

    it("the same email again needs no password: nothing a link depends on changes", async () => {
      const { user, token } = await signedIn("member");
      expect((await api("PATCH", `/api/users/${user.id}`, { token, body: { email: user.email } })).status).toBe(200);
    });
  });

  describe("password", () => {
    it("owner with the right currentPassword → 200; the new one logs in, the old one no longer does", async () => {
      const { user, token } = await signedIn("member");
      const res = await api("PATCH", `/api/users/${user.id}`, {
        token,
        body: { password: NEW_PASSWORD, currentPassword: PASSWORD },
      });
      expect(res.status).toBe(200);
      const login = (password: string) => api("POST", "/api/auth/login", { body: { email: user.email, password } });
      expect((await login(NEW_PASSWORD)).status).toBe(200);
      expect((await login(PASSWORD)).status).toBe(401);
    });

    it("ends the owner's other sessions but keeps the one that made the change", async () => {
      const { user, token } = await signedIn("member");
      const other = await seedSession(user);
      await api("PATCH", `/api/users/${user.id}`, {
        token,
        body: { password: NEW_PASSWORD, currentPassword: PASSWORD },
      });
      expect((await api("GET", "/api/auth/me", { token })).status).toBe(200);
      expect((await api("GET", "/api/auth/me", { token: other.token })).status).toBe(401);
      expect(await sessionCount(user.id)).toBe(1);
    });

    it("owner with a wrong currentPassword → 422, nothing written", async () => {
      const { user, token } = await signedIn("member");
      const before = await snapshot();
      const problem = await expectProblem(
        await api("PATCH", `/api/users/${user.id}`, {
          token,
          body: { password: NEW_PASSWORD, currentPassword: "wrong one!!!!" },
        }),
        422,
        "/problems/unprocessable",
      );
      expect(problem.detail).toMatch(/currentPassword/);
      expect(problem).not.toHaveProperty("errors");
      expect(await snapshot()).toEqual(before);
    });

    it("owner without currentPassword → 400, nothing written", async () => {
      const { user, token } = await signedIn("member");
      const before = await snapshot();
      const problem = await expectProblem(
        await api("PATCH", `/api/users/${user.id}`, { token, body: { password: NEW_PASSWORD } }),
        400,
        "/problems/validation",
      );
      expect(problem.errors).toEqual([{ path: "currentPassword", message: expect.any(String) }]);
      expect(await snapshot()).toEqual(before);
    });

    it("an admin changing its own password needs currentPassword too → 400, nothing written", async () => {
      const { user, token } = await signedIn("admin");
      const before = await snapshot();
      await expectProblem(
        await api("PATCH", `/api/users/${user.id}`, { token, body: { password: NEW_PASSWORD } }),
        400,
        "/problems/validation",
      );
      expect(await snapshot()).toEqual(before);
    });

    it("an admin resets another user's password without currentPassword and ends all its sessions", async () => {
      const user = await seedUser();
      const session = await seedSession(user);
      const { token } = await signedIn("admin");
      expect((await api("PATCH", `/api/users/${user.id}`, { token, body: { password: NEW_PASSWORD } })).status).toBe(
        200,
      );
      const stored = (await userRow(user.id))?.password_hash as string;
      expect((await hasher.verify(NEW_PASSWORD, stored)).valid).toBe(true);
      expect((await api("GET", "/api/auth/me", { token: session.token })).status).toBe(401);
      expect(await sessionCount(user.id)).toBe(0);
    });
  });

  describe("role and status (admins)", () => {
    it("an admin promotes a member → 200, and the member now acts as an admin", async () => {
      const { user, token: memberToken } = await signedIn("member");
      const { token } = await signedIn("admin");
      const res = await api("PATCH", `/api/users/${user.id}`, { token, body: { role: "admin" } });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ role: "admin" });
      expect((await api("GET", "/api/users", { token: memberToken })).status).toBe(200);
    });

    it("disabling a user → its sessions stop working and are removed; it cannot log in", async () => {
      const { user, token: userToken } = await signedIn("member");
      const { token } = await signedIn("admin");
      const res = await api("PATCH", `/api/users/${user.id}`, { token, body: { status: "disabled" } });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ status: "disabled" });
      expect((await api("GET", "/api/auth/me", { token: userToken })).status).toBe(401);
      expect(await sessionCount(user.id)).toBe(0);
      const login = await api("POST", "/api/auth/login", { body: { email: user.email, password: PASSWORD } });
      expect(login.status).toBe(401);
    });

    it("the last active admin cannot demote or disable itself → 409, nothing written", async () => {
      // Own file-level database: make this admin the only active one by demoting the others first.
      const { user, token } = await signedIn("admin");
      const others = await (await api("GET", "/api/users?role=admin&status=active&limit=100", { token })).json();
      for (const other of (others as { data: { id: string }[] }).data) {
        if (other.id !== user.id) await api("PATCH", `/api/users/${other.id}`, { token, body: { role: "member" } });
      }
      const before = await snapshot();
      await expectProblem(
        await api("PATCH", `/api/users/${user.id}`, { token, body: { role: "member" } }),
        409,
        "/problems/conflict",
      );
      await expectProblem(
        await api("PATCH", `/api/users/${user.id}`, { token, body: { status: "disabled" } }),
        409,
        "/problems/conflict",
      );
      expect(await snapshot()).toEqual(before);
      // With a second active admin, demotion is allowed again.
      const second = await seedUser({ role: "admin" });
      expect((await api("PATCH", `/api/users/${user.id}`, { token, body: { role: "member" } })).status).toBe(200);
      expect((await userRow(second.id))?.role).toBe("admin");
    });
  });
});
