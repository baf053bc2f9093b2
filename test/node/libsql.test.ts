/**
 * The repository and service suites against a real libSQL database (in memory, through
 * @libsql/client and the same createLibsqlDatabase the app uses), with migrations applied by our
 * libSQL migrator. libSQL enforces foreign keys by default; this connection turns them off, as a
 * connection may be configured, to prove the code does not depend on them (D1 always has them on).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Client, createClient } from "@libsql/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLibsqlDatabase } from "../../src/db/libsql";
import { applyLibsqlMigrations } from "../../src/db/libsql-migrations";
import { readMigrations } from "../../src/node/migrations";
import { auditSuite } from "../suites/audit.suite";
import type { Backend } from "../suites/backend";
import { repositorySuite } from "../suites/repositories.suite";
import { serviceSuite } from "../suites/services.suite";

let client: Client;

beforeAll(async () => {
  client = createClient({ url: ":memory:" });
  await applyLibsqlMigrations(client, readMigrations());
  await client.execute("pragma foreign_keys = off");
});
afterAll(() => client.close());

const libsqlBackend: Backend = {
  name: "libSQL",
  db: (logger) => createLibsqlDatabase(client as never, logger),
  query: async (sql, ...args) => {
    const result = await client.execute({ sql, args: args as never });
    return result.rows.map((row) => Object.fromEntries(result.columns.map((column, i) => [column, row[i]]))) as never;
  },
};

describe("libSQL migrations", () => {
  it("this connection really has foreign keys off (so cascades cannot be what deletes sessions)", async () => {
    const { rows } = await client.execute("pragma foreign_keys");
    expect(Number(rows[0]?.[0])).toBe(0);
  });

  it("every migration in drizzle/ is applied once and recorded; a second run is a no-op", async () => {
    const names = readMigrations().map((migration) => migration.name);
    const { rows } = await client.execute("select name from d1_migrations order by id");
    expect(rows.map((row) => row.name)).toEqual(names);
    expect(await applyLibsqlMigrations(client, readMigrations())).toEqual([]);
  });

  it("a file database: migrated, reopened, migrated again: nothing the second time", async () => {
    const dir = mkdtempSync(join(tmpdir(), "edge-users-libsql-"));
    const url = `file:${join(dir, "db.sqlite")}`;
    const first = createClient({ url });
    expect(await applyLibsqlMigrations(first, readMigrations())).toHaveLength(readMigrations().length);
    first.close();
    const again = createClient({ url });
    expect(await applyLibsqlMigrations(again, readMigrations())).toEqual([]);
    again.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

repositorySuite(libsqlBackend);
serviceSuite(libsqlBackend);
auditSuite(libsqlBackend);
