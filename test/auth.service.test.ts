import { afterEach, describe, expect, it, vi } from "vitest";
import { createAuthService } from "../src/auth/auth.service";
import { UnauthorizedError } from "../src/lib/errors";
import type { UsersRepository } from "../src/users/users.repository";
import { hasher, PASSWORD, seedUser, sessionsRepository, usersRepository } from "./helpers";

afterEach(() => vi.restoreAllMocks());

const auth = (users: UsersRepository = usersRepository) =>
  createAuthService({ users, sessions: sessionsRepository, hasher, config: { sessionTtlSeconds: 3600 } });

describe("auth service: login does the same work whatever fails", () => {
  it.each([
    ["an unknown email", async () => ({ email: "nobody@example.com", password: PASSWORD }), false],
    ["a wrong password", async () => ({ email: (await seedUser()).email, password: "wrong password!!" }), false],
    [
      "a disabled account",
      async () => ({ email: (await seedUser({ status: "disabled" })).email, password: PASSWORD }),
      false,
    ],
    ["the right password", async () => ({ email: (await seedUser()).email, password: PASSWORD }), true],
  ])("%s → exactly one PBKDF2 derivation of 100,000 iterations", async (_, credentials, succeeds) => {
    const { email, password } = await credentials();
    // Count the key derivations WebCrypto actually performs, not calls into our own code.
    const deriveBits = vi.spyOn(crypto.subtle, "deriveBits");
    const outcome = await auth()
      .login(email, password)
      .then(
        () => "signed in",
        (error: unknown) => error,
      );
    if (succeeds) expect(outcome).toBe("signed in");
    else expect(outcome).toBeInstanceOf(UnauthorizedError);
    expect(deriveBits).toHaveBeenCalledTimes(1);
    expect(deriveBits.mock.calls[0]?.[0]).toMatchObject({ name: "PBKDF2", iterations: 100_000 });
  });
});

describe("auth service: a user deleted while signing in", () => {
  it("→ 401 like an unknown account, not a 500 from the session's foreign key", async () => {
    const user = await seedUser();
    const credentials = await usersRepository.findCredentialsByEmail(user.email);
    await usersRepository.deleteUnlessLastActiveAdmin(user.id);
    // The credentials were read just before the delete committed.
    const racing: UsersRepository = { ...usersRepository, findCredentialsByEmail: async () => credentials };
    await expect(auth(racing).login(user.email, PASSWORD)).rejects.toBeInstanceOf(UnauthorizedError);
  });
});
