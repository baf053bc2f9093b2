/**
 * The developer path, end to end: the admin CLI and the seed script write into the local D1 that
 * the real `npm start` (migrations + wrangler dev) serves, the shared one of the Node tests
 * (test/node/setup/service.ts), and it is driven over HTTP.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runExamples } from "./doc-examples";
import { client, httpContract, linkFromTerminal, sharedService } from "./http-contract";
import { freePort } from "./setup/free-port";

let server: Awaited<ReturnType<typeof sharedService>>;
// The local state directory npm start serves, and the CLIs are pointed at.
let state = "";

beforeAll(async () => {
  server = await sharedService();
  state = server.state;
});

const ADMIN = { email: "root@example.com", username: "root", password: "a long admin passphrase" };

function npmRun(script: string, args: string[], env: Record<string, string> = {}) {
  return spawnSync("npm", ["run", "--silent", script, "--", ...args, "--persist-to", state], {
    encoding: "utf8",
    env: { ...process.env, PASSWORD_PEPPER: "", ADMIN_PASSWORD: "", ...env },
  });
}

/**
 * Rows from the local D1, read from its SQLite file in the state directory (as wrangler d1 execute
 * --local would read them, without starting wrangler for every look).
 */
async function sqlite(query: string): Promise<Record<string, unknown>[]> {
  const dir = join(state, "v3", "d1", "miniflare-D1DatabaseObject");
  const file = readdirSync(dir).find((name) => name.endsWith(".sqlite") && name !== "metadata.sqlite");
  const db = createClient({ url: `file:${join(dir, String(file))}` });
  try {
    const { columns, rows } = await db.execute(query);
    return rows.map((row) => Object.fromEntries(columns.map((column, i) => [column, row[i]])));
  } finally {
    db.close();
  }
}

describe("npm run create-admin", () => {
  const withPassword = { ADMIN_PASSWORD: ADMIN.password };

  it("writes an admin with the service's hashing into the local database, saying what it does", async () => {
    const args = ["--email", ADMIN.email.toUpperCase(), "--username", ADMIN.username, "--name", "Root Admin"];
    const result = npmRun("create-admin", args, withPassword);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Applying pending migrations[\s\S]*Hashing the password[\s\S]*Writing the admin/);
    expect(result.stdout).toMatch(/Created admin root <root@example.com>/);
    expect(result.stdout + result.stderr).not.toContain(ADMIN.password);
    const rows = await sqlite("select email, username, name, role, status, password_hash from users");
    expect(rows).toEqual([
      {
        email: ADMIN.email,
        username: ADMIN.username,
        name: "Root Admin",
        role: "admin",
        status: "active",
        password_hash: expect.stringMatching(/^\$scrypt\$ln=14,r=8,p=5\$/),
      },
    ]);
  });

  it("a duplicate email or username fails clearly and changes nothing", async () => {
    const before = await sqlite("select * from users order by id");
    for (const args of [
      ["--email", ADMIN.email, "--username", "someone_else"],
      ["--email", "other@example.com", "--username", ADMIN.username],
    ]) {
      const result = npmRun("create-admin", args, withPassword);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/already exists in the local D1 database; nothing was changed/);
    }
    expect(await sqlite("select * from users order by id")).toEqual(before);
  });

  it("invalid input fails before touching the database, with the usage", () => {
    const result = npmRun("create-admin", ["--email", "nope", "--username", "x"], withPassword);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/--email: Invalid email/);
    expect(result.stderr).toMatch(/--username: /);
    expect(result.stderr).toContain("Usage: npm run create-admin");
    const short = npmRun("create-admin", ["--email", "ok@example.com", "--username", "okay"], {
      ADMIN_PASSWORD: "short",
    });
    expect(short.status).toBe(1);
    expect(short.stderr).toMatch(/password: At least 12 characters/);
  });

  it("--help prints the usage; an unknown option is one line and the usage, not a stack", () => {
    const help = npmRun("create-admin", ["--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(
      /Usage: npm run create-admin -- --email <email> --username <name> \[--name <display name>\]/,
    );
    expect(help.stdout).toContain("ADMIN_PASSWORD");
    // The help states the rule the API enforces: 3 to 32, underscore, no hyphen.
    expect(help.stdout).toMatch(/--username <name> +3 to 32 characters: letters, digits and underscore/);
    expect(help.stdout).not.toMatch(/3-30|"-"/);
    const unknown = npmRun("create-admin", ["--emial", "a@example.com"]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/^create-admin: Unknown option '--emial'/);
    expect(unknown.stderr).not.toMatch(/\n\s+at /);
  });

  it("--password (the contract's form) works with a warning; with no password and no terminal it says how", async () => {
    const argument = npmRun("create-admin", [
      "--email",
      "p@example.com",
      "--username",
      "pee",
      "--password",
      ADMIN.password,
    ]);
    expect(argument.status, argument.stderr).toBe(0);
    expect(argument.stderr).toMatch(/warning: a password given as --password is printed by npm/);
    expect(await sqlite("select role from users where username = 'pee'")).toEqual([{ role: "admin" }]);
    const before = await sqlite("select count(*) as n from users");
    const none = npmRun("create-admin", ["--email", "q@example.com", "--username", "queue"]);
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/no password: set ADMIN_PASSWORD/);
    expect(await sqlite("select count(*) as n from users")).toEqual(before);
  });
});

describe("npm run create-admin in a terminal", () => {
  /** Runs create-admin under a pseudo-terminal (script(1)), typing each answer after its prompt. */
  async function typed(args: string[], answers: string[]) {
    const command = ["npm", "run", "--silent", "create-admin", "--", ...args, "--persist-to", state].join(" ");
    const child = spawn("script", ["-qec", command, "/dev/null"], { env: { ...process.env, PASSWORD_PEPPER: "" } });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    for (const [index, answer] of answers.entries()) {
      const prompt = index === 0 ? "Password for the new admin (not shown): " : "The same again: ";
      while (!output.includes(prompt)) await new Promise((resolve) => setTimeout(resolve, 50));
      child.stdin.write(`${answer}\r`);
    }
    const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
    return { status, output };
  }

  it("asks for the password twice, never showing it, and creates the admin", async () => {
    const { status, output } = await typed(
      ["--email", "tty@example.org", "--username", "ttyadmin"],
      ["a typed tty passphrase", "a typed tty passphrase"],
    );
    expect(status, output).toBe(0);
    expect(output).toContain("Created admin ttyadmin <tty@example.org>");
    expect(output).not.toContain("a typed tty passphrase");
    expect(await sqlite("select role from users where username = 'ttyadmin'")).toEqual([{ role: "admin" }]);
  });

  it("two different answers change nothing", async () => {
    const { status, output } = await typed(
      ["--email", "tty2@example.org", "--username", "ttyadmin2"],
      ["a typed tty passphrase", "another tty passphrase"],
    );
    expect(status).toBe(1);
    expect(output).toContain("the two passwords differ; nothing was changed.");
    expect(await sqlite("select * from users where username = 'ttyadmin2'")).toEqual([]);
  });
});

describe("npm run db:seed", () => {
  it("adds the demo users once, saying which it created and which were there", async () => {
    const first = npmRun("db:seed", []);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout.match(/ created$/gm)).toHaveLength(4);
    const second = npmRun("db:seed", []);
    expect(second.status).toBe(0);
    expect(second.stdout.match(/already there, left as it was$/gm)).toHaveLength(4);
    expect(second.stdout).not.toMatch(/ created$/m);
    const rows = await sqlite("select username from users where email like '%@example.com' order by username");
    expect(rows.map((row) => row.username)).toEqual(["ada", "barbara", "grace", "linus", "pee", "root"]);
  });
});

describe("npm run keys:rotate", () => {
  it("asks the service for a new signing key: one request row, however often it is run", async () => {
    for (let run = 0; run < 2; run++) {
      const result = npmRun("keys:rotate", []);
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toContain("Rotation requested in the local D1 database");
    }
    expect(await sqlite("select id from key_rotation_requests")).toEqual([{ id: "signing-key" }]);
  });
});

describe("npm start (wrangler dev) driven over HTTP", () => {
  // The shared npm start runs with --no-rate-limits, as a frontend's test suite would run it: the
  // examples below sign up more than five users a minute from this one address.
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

  it("--no-rate-limits: more than five sign-ups a minute from one address, and the terminal says limits are off", async () => {
    for (let i = 0; i < 7; i++) {
      const res = await json("POST", "/api/users", {
        email: `burst${i}@example.com`,
        username: `burst${i}`,
        name: "Burst",
        password: "a burst passphrase",
      });
      expect(res.status).toBe(201);
    }
    expect(server.output()).toContain("rate limits are OFF for requests to localhost");
  });

  it("APP_SECRET is on no process's command line (ps shows those to every local user)", () => {
    const secret = readFileSync(join(state, "app-secret"), "utf8").trim();
    expect(secret.length).toBeGreaterThan(20);
    const commandLines = readdirSync("/proc")
      .filter((entry) => /^\d+$/.test(entry))
      .map((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
        } catch {
          return "";
        }
      });
    expect(commandLines.some((line) => line.includes("wrangler") && line.includes("dev"))).toBe(true);
    expect(commandLines.filter((line) => line.includes(secret))).toEqual([]);
    // It reaches wrangler in a file only the user can read.
    expect(statSync(join(state, "app-secret.env")).mode & 0o077).toBe(0);
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

  describe("every shell example in the README and docs/ runs as pasted", () => {
    let links: Server;
    let linksUrl = "";

    beforeAll(async () => {
      // What a reader does by hand: copy the token from the newest mail in npm start's terminal.
      links = createServer(async (req, res) => {
        const query = new URL(req.url ?? "/", "http://links").searchParams;
        try {
          const link = await linkFromTerminal(server.output, query.get("to") ?? "", query.get("page") ?? "");
          res.end(new URL(link).searchParams.get("token") ?? "");
        } catch (error) {
          res.statusCode = 404; // the example's `curl -sf` fails, and so does its shell
          res.end(String(error));
        }
      });
      const port = await freePort();
      await new Promise<void>((resolve) => links.listen(port, "127.0.0.1", resolve));
      linksUrl = `http://127.0.0.1:${port}/`;
    });

    afterAll(() => links?.close());

    // accounts.md's last block names `TOKEN` and `ID` from earlier steps in its prose: a signed-in user.
    const signedIn = `B=http://localhost:8787
TOKEN=$(curl -s -X POST $B/api/auth/login -H 'Content-Type: application/json' -d '{"email":"linus@example.com","password":"demo password 1234"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')
ID=$(curl -s $B/api/auth/me -H "Authorization: Bearer $TOKEN" | node -pe 'JSON.parse(require("fs").readFileSync(0)).id')`;

    it.each([
      ["README.md", ""],
      ["docs/accounts.md", signedIn],
      ["docs/api-notes.md", ""],
      ["docs/caching.md", ""],
      ["docs/observability.md", ""],
      ["docs/tokens.md", ""],
    ])("%s", async (file, prelude) => {
      const run = await runExamples(
        file,
        server.base,
        linksUrl,
        prelude.replaceAll("http://localhost:8787", server.base),
      );
      const context = `${file}:\n${run.output}`;
      expect(run.status, context).toBe(0);
      expect(run.output, context).not.toMatch(/curl: \(\d+\)/);
      // A problem answer (it carries a requestId; /problems/{name}'s description of a type does not).
      expect(run.output, context).not.toMatch(/"status":[45]\d\d,[^}]*"requestId"/);
    });
  });
});
