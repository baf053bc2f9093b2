/**
 * Service and atomicity tests, written once and run against each backend (D1 in workerd, libSQL
 * in Node): the behaviour users see must not depend on the database under it.
 */
import { sql } from "drizzle-orm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createAuthService } from "../../src/auth/auth.service";
import type { Actor } from "../../src/authz/actor";
import { runBatch } from "../../src/db/client";
import { users } from "../../src/db/schema";
import { createIdempotencyRepository } from "../../src/idempotency/idempotency.repository";
import { createIdempotencyService } from "../../src/idempotency/idempotency.service";
import { BreachedPasswordError, ConflictError, PreconditionFailedError, UnauthorizedError } from "../../src/lib/errors";
import { newId } from "../../src/lib/ids";
import { deriveHmacKey } from "../../src/lib/keys";
import { DEFAULT_SCRYPT, keyDerivation } from "../../src/lib/password";
import { type BreachCheck, breachCheckOff } from "../../src/passwords/breach";
import type { UsersRepository } from "../../src/users/users.repository";
import { createUsersRepository } from "../../src/users/users.repository";
import { createUsersService } from "../../src/users/users.service";
import { type Backend, fixtures, PASSWORD } from "./backend";

export function serviceSuite(backend: Backend) {
  const f = fixtures(backend);
  afterEach(() => vi.restoreAllMocks());

  const auth = (repository: UsersRepository = f.usersRepository()) =>
    createAuthService({
      users: repository,
      sessions: f.sessionsRepository(),
      hasher: f.hasher,
      accessTokens: f.accessTokens(),
      config: { sessionTtlSeconds: 3600, requireEmailVerification: false },
    });
  const usersService = (breachCheck: BreachCheck = breachCheckOff) =>
    createUsersService({
      users: f.usersRepository(),
      standing: f.sessionsRepository(),
      hasher: f.hasher,
      breachCheck,
      config: { signupOpen: true },
    });
  const actorFor = async (role: "admin" | "member"): Promise<Actor> => {
    const user = await f.seedUser({ role });
    const { sessionId, tokenHash } = await f.seedSession(user);
    return { user, sessionId, credential: { kind: "session", tokenHash, user } };
  };
  const newUser = () => {
    const suffix = f.unique();
    return { email: `new_${suffix}@example.com`, username: `new_${suffix}`, name: "New", password: PASSWORD };
  };

  describe(`auth service (${backend.name})`, () => {
    it.each([
      ["an unknown email", async () => ({ email: "nobody@example.com", password: PASSWORD }), false],
      ["a wrong password", async () => ({ email: (await f.seedUser()).email, password: "wrong password!!" }), false],
      [
        "a disabled account",
        async () => ({ email: (await f.seedUser({ status: "disabled" })).email, password: PASSWORD }),
        false,
      ],
      ["the right password", async () => ({ email: (await f.seedUser()).email, password: PASSWORD }), true],
    ])("sign-in with %s → exactly one scrypt derivation at today's parameters", async (_, credentials, succeeds) => {
      const { email, password } = await credentials();
      const derive = vi.spyOn(keyDerivation, "scrypt");
      const outcome = await auth()
        .login(email, password)
        .then(
          () => "signed in",
          (error: unknown) => error,
        );
      if (succeeds) expect(outcome).toBe("signed in");
      else expect(outcome).toBeInstanceOf(UnauthorizedError);
      expect(derive).toHaveBeenCalledTimes(1);
      expect(derive.mock.calls[0]?.[2]).toEqual(DEFAULT_SCRYPT);
    });

    it.each([
      [
        "the password was changed",
        (id: string) => backend.query("update users set password_hash = 'changed' where id = ?", id),
      ],
      ["the user was disabled", (id: string) => backend.query("update users set status = 'disabled' where id = ?", id)],
      ["the user was deleted", (id: string) => f.usersRepository().deleteUnlessLastActiveAdmin(id)],
    ])("sign-in racing a write (%s after the password check) → 401, and no session", async (_, write) => {
      const user = await f.seedUser();
      // The credentials are read, then the racing write lands, then the password is checked and
      // the session inserted: the insert must see the write.
      const racing: UsersRepository = {
        ...f.usersRepository(),
        async findCredentialsByEmail(email) {
          const credentials = await f.usersRepository().findCredentialsByEmail(email);
          await write(user.id);
          return credentials;
        },
      };
      await expect(auth(racing).login(user.email, PASSWORD)).rejects.toBeInstanceOf(UnauthorizedError);
      expect(await f.sessionCount(user.id)).toBe(0);
    });

    it("sign-in, authenticate, logout: the token works, then it does not", async () => {
      const user = await f.seedUser();
      const { token } = await auth().login(user.email, PASSWORD);
      const actor = await auth().authenticate(token);
      expect(actor.user.id).toBe(user.id);
      await auth().logout(actor);
      await expect(auth().authenticate(token)).rejects.toBeInstanceOf(UnauthorizedError);
    });
  });

  describe(`users service (${backend.name})`, () => {
    it("a taken email or username is a ConflictError, and nothing is written", async () => {
      const taken = await f.seedUser();
      const [before] = await backend.query<{ n: number }>("select count(*) as n from users");
      await expect(usersService().create(null, { ...newUser(), email: taken.email })).rejects.toBeInstanceOf(
        ConflictError,
      );
      await expect(usersService().create(null, { ...newUser(), username: taken.username })).rejects.toBeInstanceOf(
        ConflictError,
      );
      expect(await backend.query("select count(*) as n from users")).toEqual([before]);
    });

    it("a breached new password is refused before any hashing, and nothing is written (sign-up, change)", async () => {
      // The lookup itself (k-anonymity, fail open) is test/breached-passwords.test.ts; here, what
      // the service does with its verdict, on this backend.
      const checked: string[] = [];
      const refusing: BreachCheck = {
        refuseIfBreached: async (password) => {
          checked.push(password);
          throw new BreachedPasswordError();
        },
      };
      const admin = await actorFor("admin");
      const target = await f.seedUser();
      await f.seedSession(target);
      const before = await f.userRow(target.id);
      const derive = vi.spyOn(keyDerivation, "scrypt");
      const input = newUser();
      await expect(usersService(refusing).create(null, input)).rejects.toBeInstanceOf(BreachedPasswordError);
      expect(await backend.query("select id from users where email = ?", input.email)).toEqual([]);
      await expect(
        usersService(refusing).update(admin, target.id, { password: "a breached long passphrase" }),
      ).rejects.toBeInstanceOf(BreachedPasswordError);
      expect(await f.userRow(target.id)).toEqual(before);
      expect(await f.sessionCount(target.id)).toBe(1);
      expect(checked).toEqual([input.password, "a breached long passphrase"]);
      expect(derive).not.toHaveBeenCalled();
    });

    it("deleting a user ends its sessions", async () => {
      const admin = await actorFor("admin");
      const user = await f.seedUser();
      await f.seedSession(user);
      await usersService().delete(admin, user.id);
      expect(await f.userRow(user.id)).toBeNull();
      expect(await f.sessionCount(user.id)).toBe(0);
    });

    it("the last active admin can be neither demoted nor deleted", async () => {
      await backend.query("update users set status = 'disabled' where role = 'admin'");
      const admin = await actorFor("admin");
      await expect(usersService().update(admin, admin.user.id, { role: "member" })).rejects.toBeInstanceOf(
        ConflictError,
      );
      await expect(usersService().delete(admin, admin.user.id)).rejects.toBeInstanceOf(ConflictError);
      expect(await f.userRow(admin.user.id)).toMatchObject({ role: "admin", status: "active" });
    });

    it("a password change ends the user's other sessions in the same write", async () => {
      const owner = await actorFor("member");
      await f.seedSession(owner.user);
      await usersService().update(owner, owner.user.id, {
        password: "a new long passphrase",
        currentPassword: PASSWORD,
      });
      expect(await f.sessionCount(owner.user.id)).toBe(1);
    });

    it("If-Match: a stale version is refused and nothing changes", async () => {
      const owner = await actorFor("member");
      await expect(
        usersService().update(owner, owner.user.id, { name: "Late" }, { versions: [99] }),
      ).rejects.toBeInstanceOf(PreconditionFailedError);
      expect(await f.userRow(owner.user.id)).toMatchObject({ name: "Seeded User", version: 1 });
    });

    // A users service and an idempotency service over one request's database handle, as composed.
    const idempotentCreation = (input: ReturnType<typeof newUser>) => {
      const db = backend.db();
      const users = createUsersService({
        users: createUsersRepository(db),
        standing: f.sessionsRepository(),
        hasher: f.hasher,
        breachCheck: breachCheckOff,
        config: { signupOpen: true },
      });
      const idempotency = createIdempotencyService(createIdempotencyRepository(db), {
        fingerprintKey: () => deriveHmacKey("a test secret of at least thirty-two characters", "test"),
      });
      const claim = { scope: "s", key: crypto.randomUUID(), method: "POST", path: "/api/users", body: input };
      const render = (user: { id: string }) => ({ status: 201, headers: {}, body: JSON.stringify({ id: user.id }) });
      return { claim, run: idempotency.run(claim, () => users.create(null, input), render) };
    };

    it("an idempotent creation stores its response in the same write as the user", async () => {
      const { claim, run } = idempotentCreation(newUser());
      const { response } = await run;
      const id = (JSON.parse(response.body) as { id: string }).id;
      expect(await f.userRow(id)).toMatchObject({ id });
      const [record] = await backend.query(
        "select state, response_body from idempotency_keys where key = ?",
        claim.key,
      );
      expect(record).toEqual({ state: "completed", response_body: response.body });
    });

    it("an idempotent creation that is refused stores nothing and gives its key back", async () => {
      const taken = await f.seedUser();
      const { claim, run } = idempotentCreation({ ...newUser(), email: taken.email });
      await expect(run).rejects.toBeInstanceOf(ConflictError);
      expect(await backend.query("select * from idempotency_keys where key = ?", claim.key)).toEqual([]);
    });
  });

  describe(`atomic batches (${backend.name})`, () => {
    it("a batch whose last statement fails leaves nothing of the earlier ones", async () => {
      const db = backend.db();
      const existing = await f.seedUser();
      const suffix = f.unique();
      const fresh = {
        id: newId(),
        email: `batch_${suffix}@example.com`,
        username: `batch_${suffix}`,
        name: "Batch",
        passwordHash: "x",
        createdAt: new Date(),
        updatedAt: new Date(),
      };
      const duplicate = { ...fresh, id: newId(), username: `other_${suffix}`, email: existing.email };
      await expect(
        runBatch(db, [
          db.insert(users).values(fresh),
          db.update(users).set({ name: sql`'Changed'` }).where(sql`${users.id} = ${existing.id}`),
          db.insert(users).values(duplicate),
        ]),
      ).rejects.toThrow(/UNIQUE/);
      expect(await f.userRow(fresh.id)).toBeNull();
      expect(await f.userRow(existing.id)).toMatchObject({ name: "Seeded User" });
    });
  });
}
