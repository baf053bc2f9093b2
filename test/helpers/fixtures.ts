/**
 * Data fixtures of the workerd tests: the shared fixtures (test/suites/backend.ts) over the test
 * D1, plus what only HTTP tests need (request bodies, signed-in callers, whole-database snapshots).
 */
import { env } from "cloudflare:workers";
import type { Role } from "../../src/db/schema";
import { SCRYPT_BY_COST } from "../../src/lib/password";
import { fixtures, PASSWORD } from "../suites/backend";
import { d1Backend } from "./d1-backend";
import { api } from "./http";

export { PASSWORD };

// The Worker under test hashes at PASSWORD_HASH_COST=low (vitest.config.ts): seeded users too.
const f = fixtures(d1Backend, { scrypt: SCRYPT_BY_COST[env.PASSWORD_HASH_COST === "low" ? "low" : "standard"] });
export const { seedUser, seedSession, sessionCount, userRow, unique, hasher, accessTokens } = f;
export const usersRepository = f.usersRepository();

export function newUserBody(overrides: Record<string, unknown> = {}) {
  const suffix = unique();
  return {
    email: `user_${suffix}@example.com`,
    username: `u_${suffix}`,
    name: "Test User",
    password: PASSWORD,
    ...overrides,
  };
}

/** A user with a live session: the usual caller in route tests. */
export async function signedIn(role: Role = "member") {
  const user = await seedUser({ role });
  const { token, sessionId } = await seedSession(user);
  return { user, token, sessionId };
}

/** A session made by signing in through the API, so its KV entry exists as in production. */
export async function signedInThroughApi(role: Role = "member") {
  const user = await seedUser({ role });
  const res = await api("POST", "/api/auth/login", { body: { email: user.email, password: PASSWORD } });
  const { token } = (await res.json()) as { token: string };
  return { user, token };
}

/** A mailed link's token row, as the accounts service stores it (by hash), expiring at `expiresAt`. */
export async function seedLinkToken(
  user: { id: string; email: string },
  purpose: "verify_email" | "reset_password",
  tokenHash: string,
  expiresAt: number,
) {
  await env.DB.prepare(
    "insert into email_tokens (token_hash, user_id, purpose, email, created_at, expires_at) values (?, ?, ?, ?, ?, ?)",
  )
    .bind(tokenHash, user.id, purpose, user.email, expiresAt - 60_000, expiresAt)
    .run();
}

/** Every row of every table, to prove a rejected request changed nothing. */
export async function snapshot() {
  const [users, sessions, stalePurges, idempotencyKeys, emailTokens, auditEvents] = await Promise.all([
    env.DB.prepare("select * from users order by id").all(),
    env.DB.prepare("select * from sessions order by id").all(),
    env.DB.prepare("select * from stale_purges order by key").all(),
    env.DB.prepare("select * from idempotency_keys order by scope, key").all(),
    env.DB.prepare("select * from email_tokens order by token_hash").all(),
    env.DB.prepare("select * from audit_events order by id").all(),
  ]);
  return {
    users: users.results,
    sessions: sessions.results,
    stalePurges: stalePurges.results,
    idempotencyKeys: idempotencyKeys.results,
    emailTokens: emailTokens.results,
    auditEvents: auditEvents.results,
  };
}
