/**
 * The repository tests, written once and run against each backend: D1 in workerd
 * (test/repositories.test.ts) and libSQL in Node (test/node/libsql.test.ts).
 */
import { describe, expect, it } from "vitest";
import { createSessionsRepository } from "../../src/auth/sessions.repository";
import { ConflictError } from "../../src/lib/errors";
import { newId } from "../../src/lib/ids";
import { newUserRow } from "../../src/users/users.model";
import { createUsersRepository, type UsersRepository } from "../../src/users/users.repository";
import { type Backend, fixtures } from "./backend";

export function repositorySuite(backend: Backend) {
  const f = fixtures(backend);
  const { seedSession, seedUser, sessionCount, unique, userRow } = f;
  // Built per use: the backend's client may only exist once the suite's beforeAll has run.
  const usersRepository = () => f.usersRepository();
  const sessionsRepository = () => f.sessionsRepository();

  describe(`users repository (${backend.name})`, () => {
    it("insert returns the user without its password hash; findCredentials returns both", async () => {
      const user = await seedUser();
      expect(user).not.toHaveProperty("passwordHash");
      expect(await usersRepository().findById(user.id)).toEqual(user);
      const credentials = await usersRepository().findCredentialsByEmail(user.email);
      expect(credentials?.user).toEqual(user);
      expect(credentials?.passwordHash).toMatch(/^\$scrypt\$/);
      expect(await usersRepository().findCredentialsById(user.id)).toEqual(credentials);
    });

    it("missing rows → null", async () => {
      expect(await usersRepository().findById(newId())).toBeNull();
      expect(await usersRepository().findCredentialsByEmail("missing@example.com")).toBeNull();
    });

    it("insert of a taken email → ConflictError naming the field", async () => {
      const user = await seedUser();
      const row = newUserRow({ email: user.email, username: `other_${unique()}`, name: "x" }, "x", new Date());
      const attempt = usersRepository().insert(row);
      await expect(attempt).rejects.toBeInstanceOf(ConflictError);
      await expect(attempt).rejects.toMatchObject({ detail: "A user with this email already exists." });
    });

    it("update changes only the target row", async () => {
      const [target, bystander] = [await seedUser({ role: "admin" }), await seedUser({ role: "admin" })];
      const result = await usersRepository().update(
        target.id,
        { role: "member", updatedAt: new Date() },
        { keepAnActiveAdmin: true },
      );
      expect(result).toMatchObject({ outcome: "updated", user: { id: target.id, role: "member" } });
      expect((await userRow(bystander.id))?.role).toBe("admin");
    });

    it("update of a missing id → not_found", async () => {
      expect(await usersRepository().update(newId(), { name: "x", updatedAt: new Date() })).toMatchObject({
        outcome: "not_found",
      });
    });

    it("revokeSessions, when the update lands, removes the user's sessions except the kept one", async () => {
      const user = await seedUser();
      const kept = await seedSession(user);
      await seedSession(user);
      const other = await seedUser();
      await seedSession(other);
      await usersRepository().update(
        user.id,
        { name: "Changed", updatedAt: new Date() },
        { revokeSessions: { exceptSessionId: kept.sessionId } },
      );
      expect(await sessionCount(user.id)).toBe(1);
      expect(await sessionCount(other.id)).toBe(1);
    });

    it("a refused update (last active admin) revokes nothing", async () => {
      // A file-local world with exactly one active admin: disable every other active admin first.
      await backend.query("update users set status = 'disabled' where role = 'admin'");
      const admin = await seedUser({ role: "admin" });
      await seedSession(admin);
      const result = await usersRepository().update(
        admin.id,
        { status: "disabled", updatedAt: new Date() },
        { keepAnActiveAdmin: true, revokeSessions: {} },
      );
      expect(result).toMatchObject({ outcome: "last_admin" });
      expect((await userRow(admin.id))?.status).toBe("active");
      expect(await sessionCount(admin.id)).toBe(1);
    });

    it("deleteUnlessLastActiveAdmin: deleted / not_found / last_admin; sessions cascade", async () => {
      const member = await seedUser();
      await seedSession(member);
      expect(await usersRepository().deleteUnlessLastActiveAdmin(member.id)).toMatchObject({ outcome: "deleted" });
      expect(await sessionCount(member.id)).toBe(0);
      expect(await usersRepository().deleteUnlessLastActiveAdmin(member.id)).toMatchObject({ outcome: "not_found" });

      await backend.query("update users set status = 'disabled' where role = 'admin'");
      const admin = await seedUser({ role: "admin" });
      expect(await usersRepository().deleteUnlessLastActiveAdmin(admin.id)).toMatchObject({ outcome: "last_admin" });
      expect(await userRow(admin.id)).not.toBeNull();
    });

    it("replacePasswordHash is a compare-and-set", async () => {
      const user = await seedUser();
      const current = (await userRow(user.id))?.password_hash as string;
      await usersRepository().replacePasswordHash(user.id, "not-the-current-hash", "new-1");
      expect((await userRow(user.id))?.password_hash).toBe(current);
      await usersRepository().replacePasswordHash(user.id, current, "new-2");
      expect((await userRow(user.id))?.password_hash).toBe("new-2");
    });

    it("list: newest first with ties broken by id, keyset after a cursor, filters combine", async () => {
      const name = `Repo${unique().replace(/_/g, "")}`;
      const at = new Date(Date.UTC(2024, 0, 1));
      const a = await seedUser({ name, createdAt: at });
      const b = await seedUser({ name, createdAt: at });
      const c = await seedUser({ name, createdAt: new Date(at.getTime() + 1), role: "admin" });
      const all = await usersRepository().list({ q: name, limit: 10 });
      expect(all.map((u) => u.id)).toEqual([c.id, ...[a.id, b.id].sort().reverse()]);
      const after = await usersRepository().list({ q: name, limit: 10, after: { createdAt: c.createdAt, id: c.id } });
      expect(after.map((u) => u.id)).toEqual([a.id, b.id].sort().reverse());
      expect((await usersRepository().list({ q: name, role: "admin", limit: 10 })).map((u) => u.id)).toEqual([c.id]);
      expect(await usersRepository().list({ q: name, role: "admin", status: "disabled", limit: 10 })).toEqual([]);
    });

    const plansOf = (run: (repository: UsersRepository) => Promise<unknown>) =>
      f.plansOf((db) => run(createUsersRepository(db)));

    it("q matches a case-insensitive prefix and treats % and _ literally", async () => {
      const name = `Mixed${unique().replace(/_/g, "")}`;
      const user = await seedUser({ name: `${name} Case` });
      const search = (q: string) => usersRepository().list({ q, limit: 10 });
      expect((await search(name.toUpperCase())).map((u) => u.id)).toEqual([user.id]);
      expect((await search(name.toLowerCase())).map((u) => u.id)).toEqual([user.id]);
      expect(await search(`${name.slice(0, 3)}%`)).toEqual([]);
      expect(await search(`${name.slice(0, 3)}_`)).toEqual([]);
    });

    it("the newest-first page after a cursor walks an index, with no sort step", async () => {
      const [plan] = await plansOf((repository) =>
        repository.list({ limit: 21, after: { createdAt: new Date(), id: "01936b2e-7c4a-7d1e-9a3b-5f0c2d8e4a61" } }),
      );
      expect(plan).toMatch(/users_created_at_id_idx/);
      expect(plan).not.toMatch(/TEMP B-TREE/);
    });

    it("the role filter is served by the role/status index", async () => {
      const [plan] = await plansOf((repository) => repository.list({ limit: 21, role: "admin", status: "active" }));
      expect(plan).toMatch(/users_role_status_created_at_idx/);
    });

    it("lookups by id and by email are index searches", async () => {
      const plans = await plansOf(async (repository) => {
        await repository.findById("x");
        await repository.findCredentialsByEmail("x@example.com");
      });
      expect(plans[0]).toMatch(/SEARCH users USING INDEX sqlite_autoindex_users_1/);
      expect(plans[1]).toMatch(/SEARCH users USING INDEX users_email_unique/);
    });
  });

  describe(`sessions repository (${backend.name})`, () => {
    const sessionFor = (userId: string, tokenHash: string) => ({
      id: newId(),
      userId,
      tokenHash,
      createdAt: new Date(),
      expiresAt: new Date(Date.now() + 60_000),
    });
    const passwordHashOf = async (id: string) => String((await userRow(id))?.password_hash);

    it("finds an unexpired session of an active user, with the user, by token hash", async () => {
      const user = await seedUser();
      const created = await sessionsRepository().insert(sessionFor(user.id, "hash-live"), {
        passwordHash: await passwordHashOf(user.id),
      });
      expect(created).toBe(true);
      const found = await sessionsRepository().findActiveByTokenHash("hash-live", new Date());
      expect(found).toMatchObject({ user });
      expect(found?.user).not.toHaveProperty("passwordHash");
      expect(await sessionsRepository().findActiveByTokenHash("hash-live", new Date(Date.now() + 61_000))).toBeNull();
      expect(await sessionsRepository().findActiveByTokenHash("hash-unknown", new Date())).toBeNull();
    });

    it("a user disabled after sign-in: the session is not found", async () => {
      const user = await seedUser();
      const { tokenHash } = await seedSession(user);
      await backend.query("update users set status = 'disabled' where id = ?", user.id);
      expect(await sessionsRepository().findActiveByTokenHash(tokenHash, new Date())).toBeNull();
    });

    it.each([
      [
        "the password hash changed",
        async (id: string) => backend.query("update users set password_hash = 'new' where id = ?", id),
      ],
      [
        "the user was disabled",
        async (id: string) => backend.query("update users set status = 'disabled' where id = ?", id),
      ],
      ["the user was deleted", async (id: string) => backend.query("delete from users where id = ?", id)],
    ])("insert is refused, creating nothing, when %s since the password was checked", async (_, change) => {
      const user = await seedUser();
      const passwordHash = await passwordHashOf(user.id);
      await change(user.id);
      const tokenHash = `hash-${newId()}`;
      expect(await sessionsRepository().insert(sessionFor(user.id, tokenHash), { passwordHash })).toBe(false);
      expect(await backend.query("select id from sessions where token_hash = ?", tokenHash)).toEqual([]);
    });

    it("deleteExpired removes only expired sessions and says how many", async () => {
      const user = await seedUser();
      await seedSession(user, new Date(Date.now() - 1000));
      await seedSession(user, new Date(Date.now() - 2000));
      await seedSession(user, new Date(Date.now() + 60_000));
      expect(await sessionsRepository().deleteExpired(new Date())).toBeGreaterThanOrEqual(2);
      expect(await sessionCount(user.id)).toBe(1);
    });

    it("the session lookup (join with its user) searches by the token hash index", async () => {
      const [details] = await f.plansOf((db) => createSessionsRepository(db).findActiveByTokenHash("x", new Date()));
      expect(details).toMatch(/SEARCH sessions USING INDEX sessions_token_hash_unique/);
      expect(details).toMatch(/SEARCH users USING INDEX sqlite_autoindex_users_1/);
    });
  });
}
