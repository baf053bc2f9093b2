/**
 * The bootstrap commands against libSQL (`--libsql`): the database `start:node` serves (LIBSQL_URL,
 * here a fresh local file). The same validation, hashing, duplicate handling and messages as the
 * D1 path (test/node/dev-server.test.ts); then the real `start:node` signs the admin in.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { afterAll, describe, expect, it } from "vitest";
import { client, startServer } from "./http-contract";
import { freePort } from "./setup/free-port";

const dir = mkdtempSync(join(tmpdir(), "edge-users-libsql-cli-"));
const LIBSQL_URL = `file:${join(dir, "edge-users.db")}`;
const ADMIN = { email: "root@example.com", username: "root", password: "a long libsql passphrase" };

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function npmRun(script: string, args: string[], env: Record<string, string> = {}) {
  return spawnSync("npm", ["run", "--silent", script, "--", ...args], {
    encoding: "utf8",
    env: { ...process.env, LIBSQL_URL, LIBSQL_AUTH_TOKEN: "", PASSWORD_PEPPER: "", ADMIN_PASSWORD: "", ...env },
  });
}

async function rows(sql: string) {
  const db = createClient({ url: LIBSQL_URL });
  try {
    const result = await db.execute(sql);
    return result.rows.map((row) => Object.fromEntries(result.columns.map((column, i) => [column, row[i]])));
  } finally {
    db.close();
  }
}

describe("create-admin, db:seed and keys:rotate with --libsql", () => {
  it("create-admin writes an admin with the service's hashing, migrations applied first", async () => {
    const result = npmRun("create-admin", ["--libsql", "--email", ADMIN.email, "--username", ADMIN.username], {
      ADMIN_PASSWORD: ADMIN.password,
    });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain(`Created admin root <root@example.com>`);
    expect(result.stdout).toContain(`in the libSQL database ${LIBSQL_URL}`);
    expect(await rows("select username, role, status, email_verified, password_hash from users")).toEqual([
      {
        username: "root",
        role: "admin",
        status: "active",
        email_verified: 1,
        password_hash: expect.stringMatching(/^\$scrypt\$ln=14,r=8,p=5\$/),
      },
    ]);
  });

  it("a duplicate fails clearly and changes nothing; --remote with --libsql is refused", async () => {
    const before = await rows("select * from users");
    const duplicate = npmRun("create-admin", ["--libsql", "--email", ADMIN.email, "--username", "other"], {
      ADMIN_PASSWORD: ADMIN.password,
    });
    expect(duplicate.status).toBe(1);
    expect(duplicate.stderr).toContain(`a user with this email already exists in the libSQL database ${LIBSQL_URL}`);
    const both = npmRun("create-admin", ["--libsql", "--remote", "--email", "x@example.com", "--username", "xx"]);
    expect(both.stderr).toMatch(/--remote and --libsql name two different databases/);
    expect(await rows("select * from users")).toEqual(before);
  });

  it("db:seed adds the demo users once; never into a database that is not a local file", async () => {
    const first = npmRun("db:seed", ["--libsql"]);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout.match(/ created$/gm)).toHaveLength(4);
    expect(npmRun("db:seed", ["--libsql"]).stdout.match(/already there, left as it was$/gm)).toHaveLength(4);
    const remote = npmRun("db:seed", ["--libsql"], { LIBSQL_URL: "libsql://edge-users-example.turso.io" });
    expect(remote.status).toBe(1);
    expect(remote.stderr).toMatch(/is not a local database/);
    expect((await rows("select count(*) as n from users"))[0]).toEqual({ n: 5 });
  });

  it("keys:rotate writes the rotation request", async () => {
    const result = npmRun("keys:rotate", ["--libsql"]);
    expect(result.status, result.stderr).toBe(0);
    expect(await rows("select id from key_rotation_requests")).toEqual([{ id: "signing-key" }]);
  });

  it("start:node on that database: the admin and a demo user sign in", async () => {
    const port = await freePort();
    const server = await startServer("start:node", ["--port", String(port)], port, { LIBSQL_URL, PASSWORD_PEPPER: "" });
    try {
      const json = client(() => server.base);
      const admin = await json("POST", "/api/auth/login", { email: ADMIN.email, password: ADMIN.password });
      expect(admin.status).toBe(200);
      expect(((await admin.json()) as { user: { role: string } }).user.role).toBe("admin");
      const demo = await json("POST", "/api/auth/login", { email: "ada@example.com", password: "demo password 1234" });
      expect(demo.status).toBe(200);
    } finally {
      server.stop();
    }
  });
});
