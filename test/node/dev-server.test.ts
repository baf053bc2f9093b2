/**
 * The developer path, end to end: the admin CLI and the seed script write into a local D1, then
 * the real `npm start` (migrations + wrangler dev) serves it and is driven over HTTP.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, freePort, httpContract, startServer } from "./http-contract";

const state = mkdtempSync(join(tmpdir(), "edge-users-e2e-"));
const ADMIN = { email: "root@example.com", username: "root", password: "a long admin passphrase" };

function npmRun(script: string, args: string[]) {
  return spawnSync("npm", ["run", "--silent", script, "--", ...args, "--persist-to", state], {
    encoding: "utf8",
    env: { ...process.env, PASSWORD_PEPPER: "" },
  });
}

function sqlite(query: string): Record<string, unknown>[] {
  const result = spawnSync(
    "wrangler",
    ["d1", "execute", "DB", "--local", "--persist-to", state, "--json", "--command", query],
    {
      encoding: "utf8",
    },
  );
  expect(result.status, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { results: Record<string, unknown>[] }[])[0]?.results ?? [];
}

describe("npm run create-admin", () => {
  it("writes an admin with the service's hashing into the local database", () => {
    const result = npmRun("create-admin", [
      "--email",
      ADMIN.email.toUpperCase(),
      "--username",
      ADMIN.username,
      "--password",
      ADMIN.password,
    ]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Created admin root <root@example.com>/);
    expect(result.stdout + result.stderr).not.toContain(ADMIN.password);
    const rows = sqlite("select email, username, role, status, password_hash from users");
    expect(rows).toEqual([
      {
        email: ADMIN.email,
        username: ADMIN.username,
        role: "admin",
        status: "active",
        password_hash: expect.stringMatching(/^\$scrypt\$ln=14,r=8,p=5\$/),
      },
    ]);
  });

  it("a duplicate email or username fails clearly and changes nothing", () => {
    const before = sqlite("select * from users order by id");
    for (const args of [
      ["--email", ADMIN.email, "--username", "someone_else"],
      ["--email", "other@example.com", "--username", ADMIN.username],
    ]) {
      const result = npmRun("create-admin", [...args, "--password", ADMIN.password]);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/already exists in the local D1 database; nothing was changed/);
    }
    expect(sqlite("select * from users order by id")).toEqual(before);
  });

  it("invalid input fails before touching the database", () => {
    const result = npmRun("create-admin", ["--email", "nope", "--username", "x", "--password", "short"]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/--email: Invalid email/);
    expect(result.stderr).toMatch(/--password: At least 12 characters/);
  });
});

describe("npm run db:seed", () => {
  it("adds the demo users once, even when run twice", () => {
    expect(npmRun("db:seed", []).status).toBe(0);
    expect(npmRun("db:seed", []).status).toBe(0);
    const rows = sqlite("select username from users where email like '%@example.com' order by username");
    expect(rows.map((row) => row.username)).toEqual(["ada", "barbara", "grace", "linus", "root"]);
  });
});

describe("npm run keys:rotate", () => {
  it("asks the service for a new signing key: one request row, however often it is run", () => {
    for (let run = 0; run < 2; run++) {
      const result = npmRun("keys:rotate", []);
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toContain("Rotation requested in the local D1 database");
    }
    expect(sqlite("select id from key_rotation_requests")).toEqual([{ id: "signing-key" }]);
  });
});

describe("npm start (wrangler dev) driven over HTTP", () => {
  let server: Awaited<ReturnType<typeof startServer>>;

  beforeAll(async () => {
    const [port, inspectorPort] = [await freePort(), await freePort()];
    const args = ["--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort)];
    server = await startServer("start", [...args, "--persist-to", state], port);
  });

  afterAll(() => {
    server?.stop();
    rmSync(state, { recursive: true, force: true });
  });

  httpContract(() => server, "workerd");

  const json = client(() => server.base);

  it("the admin from create-admin signs in and lists users", async () => {
    const login = await json("POST", "/api/auth/login", { email: ADMIN.email, password: ADMIN.password });
    expect(login.status).toBe(200);
    const { token } = (await login.json()) as { token: string };
    const list = await json("GET", "/api/users?limit=100", undefined, token);
    expect(list.status).toBe(200);
    const { data } = (await list.json()) as { data: { username: string }[] };
    expect(data.map((user) => user.username)).toEqual(expect.arrayContaining(["root", "ada", "workerd"]));
  });

  it("a seeded demo user signs in with the demo password", async () => {
    const login = await json("POST", "/api/auth/login", { email: "grace@example.com", password: "demo password 1234" });
    expect(login.status).toBe(200);
  });

  it("shows readable request logs and the analytics data points in the terminal", async () => {
    await json("GET", "/health");
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(server.output()).toMatch(/INFO .*GET \/health 200 [\d.]+ms/);
    expect(server.output()).toMatch(/↳ analytics .*"request","GET","\/health"/);
    expect(server.output()).not.toContain(ADMIN.password);
  });
});
