/**
 * libSQL migrations applied by several processes at once (two `start:node` booting together, a
 * migration script beside a server): each waits for the one holding the lock, none fails with
 * "table already exists", and every migration is applied and recorded once.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { afterEach, describe, expect, it } from "vitest";
import { applyLibsqlMigrations } from "../../src/db/libsql-migrations";
import { readMigrations } from "../../src/node/migrations";

const dirs: string[] = [];
function freshDatabase(): string {
  const dir = mkdtempSync(join(tmpdir(), "edge-users-migrate-"));
  dirs.push(dir);
  return `file:${join(dir, "edge-users.db")}`;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function recorded(url: string) {
  const client = createClient({ url });
  try {
    const { rows } = await client.execute("select name from d1_migrations order by id");
    return rows.map((row) => String(row.name));
  } finally {
    client.close();
  }
}

describe("applying migrations from several connections at once", () => {
  it("two connections to one new file: one applies everything, the other waits and finds nothing to do", async () => {
    // In one process the calls take turns (src/db/libsql-migrations.ts): the loser waits for the
    // winner's commit, not for the garbage collector, so well within the 2 s the issue allows.
    const url = freshDatabase();
    const clients = Array.from({ length: 2 }, () => createClient({ url }));
    try {
      const results = await Promise.all(clients.map((client) => applyLibsqlMigrations(client, readMigrations())));
      const names = readMigrations()
        .map((migration) => migration.name)
        .sort();
      expect(results.filter((applied) => applied.length > 0)).toEqual([names]);
      expect(await recorded(url)).toEqual(names);
    } finally {
      for (const client of clients) client.close();
    }
  }, 2_000);

  it("three `npm run db:migrate:libsql` processes started together all succeed", async () => {
    const url = freshDatabase();
    const runs = Array.from(
      { length: 3 },
      () =>
        new Promise<{ code: number | null; output: string }>((resolve) => {
          const child = spawn("npm", ["run", "--silent", "db:migrate:libsql", "--", "--url", url]);
          let output = "";
          child.stdout.on("data", (chunk) => (output += chunk));
          child.stderr.on("data", (chunk) => (output += chunk));
          child.on("close", (code) => resolve({ code, output }));
        }),
    );
    const results = await Promise.all(runs);
    for (const { code, output } of results) expect(code, output).toBe(0);
    expect(results.filter(({ output }) => output.startsWith("Applied ")).length).toBe(1);
    expect(await recorded(url)).toEqual(
      readMigrations()
        .map((migration) => migration.name)
        .sort(),
    );
  });
});
