import { describe, expect, it } from "vitest";
import { createAuthService } from "../src/auth/auth.service";
import { UnauthorizedError } from "../src/lib/errors";
import type { PasswordHasher } from "../src/lib/password";
import { hasher, PASSWORD, seedUser, sessionsRepository, usersRepository } from "./helpers";

/** The real hasher behind a counter: how many key derivations each login path pays for. */
function countingHasher(inner: PasswordHasher) {
  const calls = { verify: 0, hash: 0 };
  const counted: PasswordHasher = {
    hash: (password) => {
      calls.hash++;
      return inner.hash(password);
    },
    verify: (password, stored) => {
      calls.verify++;
      return inner.verify(password, stored);
    },
  };
  return { hasher: counted, calls };
}

describe("auth service: login does the same work whatever fails", () => {
  it.each([
    ["an unknown email", async () => ({ email: "nobody@example.com", password: PASSWORD })],
    ["a wrong password", async () => ({ email: (await seedUser()).email, password: "wrong password!!" })],
    ["a disabled account", async () => ({ email: (await seedUser({ status: "disabled" })).email, password: PASSWORD })],
    ["the right password", async () => ({ email: (await seedUser()).email, password: PASSWORD })],
  ])("%s → exactly one password verification, no hashing", async (_, credentials) => {
    const { hasher: counted, calls } = countingHasher(hasher);
    const auth = createAuthService({
      users: usersRepository,
      sessions: sessionsRepository,
      hasher: counted,
      config: { sessionTtlSeconds: 3600 },
    });
    const { email, password } = await credentials();
    await auth.login(email, password).catch((error) => expect(error).toBeInstanceOf(UnauthorizedError));
    expect(calls).toEqual({ verify: 1, hash: 0 });
  });
});
