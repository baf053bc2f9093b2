/**
 * What a shared test suite needs from a database backend: Drizzle over it (optionally logging the
 * statements it sends) and raw SQL for setup and assertions. D1 provides one in workerd
 * (test/repositories.test.ts), libSQL in Node (test/node/libsql.test.ts).
 */
import type { Logger } from "drizzle-orm/logger";
import { createSessionsRepository } from "../../src/auth/sessions.repository";
import type { Db } from "../../src/db/client";
import type { Role, User, UserStatus } from "../../src/db/schema";
import { newId } from "../../src/lib/ids";
import { createPasswordHasher, type ScryptParams } from "../../src/lib/password";
import { generateToken, hashToken } from "../../src/lib/tokens";
import { createAccessTokens } from "../../src/tokens/access-tokens";
import { newUserRow } from "../../src/users/users.model";
import { createUsersRepository } from "../../src/users/users.repository";
import { signingKeysOver } from "./signing-keys";

export type Backend = {
  name: string;
  db(logger?: Logger): Db;
  query<T = Record<string, unknown>>(sql: string, ...args: unknown[]): Promise<T[]>;
};

export const PASSWORD = "correct horse battery staple";

/**
 * Repositories and seeding helpers over one backend, for suites that must not know which. Seeded
 * users' hashes get `scrypt` (the production parameters unless told): a suite that signs them in
 * through a Worker hashes as that Worker does, so a sign-in never re-hashes.
 */
export function fixtures(backend: Backend, { scrypt }: { scrypt?: ScryptParams } = {}) {
  const hasher = createPasswordHasher({ scrypt });
  let passwordHash: Promise<string> | undefined;
  let counter = 0;
  const unique = () => `${++counter}_${crypto.randomUUID().slice(0, 8)}`;
  const usersRepository = () => createUsersRepository(backend.db());
  const sessionsRepository = () => createSessionsRepository(backend.db());

  // Access tokens as the service makes them, with keys in this backend's database.
  const accessTokens = () =>
    createAccessTokens({
      keys: signingKeysOver(backend.db()),
      config: { tokenIssuer: "http://edge-users.test", tokenAudience: "edge-users", accessTokenTtlSeconds: 300 },
    });

  return {
    hasher,
    unique,
    usersRepository,
    sessionsRepository,
    accessTokens,

    async seedUser(
      options: { role?: Role; status?: UserStatus; createdAt?: Date; name?: string; emailVerified?: boolean } = {},
    ): Promise<User> {
      passwordHash ??= hasher.hash(PASSWORD);
      const suffix = unique();
      const user = {
        email: `seed_${suffix}@example.com`,
        username: `seed_${suffix}`,
        name: options.name ?? "Seeded User",
        role: options.role,
        status: options.status,
        emailVerified: options.emailVerified,
      };
      return usersRepository().insert(newUserRow(user, await passwordHash, options.createdAt ?? new Date()));
    },

    async seedSession(user: Pick<User, "id">, expiresAt = new Date(Date.now() + 3_600_000)) {
      const token = generateToken();
      const id = newId();
      const tokenHash = await hashToken(token);
      const [row] = await backend.query<{ password_hash: string }>(
        "select password_hash from users where id = ?",
        user.id,
      );
      const created = await sessionsRepository().insert(
        { id, userId: user.id, tokenHash, createdAt: new Date(), expiresAt },
        { passwordHash: row?.password_hash ?? "" },
      );
      if (!created) throw new Error(`no session for user ${user.id}: it is not active, or does not exist`);
      return { token, tokenHash, sessionId: id };
    },

    async sessionCount(userId: string): Promise<number> {
      const [row] = await backend.query<{ n: number }>("select count(*) as n from sessions where user_id = ?", userId);
      return Number(row?.n ?? 0);
    },

    async userRow(id: string) {
      const [row] = await backend.query("select * from users where id = ?", id);
      return row ?? null;
    },

    /** The plans SQLite chooses for the statements `run` really sends (captured by a logger). */
    async plansOf(run: (db: Db) => Promise<unknown>): Promise<string[]> {
      const queries: { sql: string; params: unknown[] }[] = [];
      await run(backend.db({ logQuery: (sql, params) => queries.push({ sql, params }) }));
      return Promise.all(
        queries.map(async ({ sql, params }) => {
          const plan = await backend.query<{ detail: string }>(`explain query plan ${sql}`, ...params);
          return plan.map((row) => row.detail).join("; ");
        }),
      );
    },
  };
}
