/**
 * `npm run start:node`: the same app on Node with libSQL (a local file) and in-memory cache and
 * limits, driven over HTTP by the same contract as `npm start`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readMigrations } from "../../src/node/migrations";
import { client, httpContract, startServer } from "./http-contract";
import { freePort } from "./setup/free-port";

const dir = mkdtempSync(join(tmpdir(), "edge-users-node-"));
const url = `file:${join(dir, "edge-users.db")}`;

describe("npm run start:node driven over HTTP", () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    server = await startServer("start:node", ["--port", String(port)], port, {
      LIBSQL_URL: url,
      PASSWORD_HASH_COST: "low",
    });
  });

  afterAll(() => {
    server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  httpContract(() => server, "node");

  it("keeps its data in the libSQL file, with migrations recorded once", async () => {
    const db = createClient({ url });
    const { rows } = await db.execute("select count(*) as n from d1_migrations");
    const users = await db.execute("select username from users where username = 'node'");
    db.close();
    expect(Number(rows[0]?.n)).toBe(readMigrations().length);
    expect(users.rows).toHaveLength(1);
  });

  it("does not trust a client's CF-Connecting-IP: limits key on the socket's address", async () => {
    const json = client(() => server.base);
    // Sign-ups from "many addresses" all come from this one socket: the 6th in a window is refused.
    const statuses: number[] = [];
    for (let i = 0; i < 12 && !statuses.includes(429); i++) {
      const suffix = `spoof${i}`;
      const res = await json(
        "POST",
        "/api/users",
        { email: `${suffix}@example.com`, username: suffix, name: "S", password: "spoofing passphrase" },
        undefined,
        { "CF-Connecting-IP": `203.0.113.${i}` },
      );
      statuses.push(res.status);
    }
    expect(statuses).toContain(429);
  });
});
