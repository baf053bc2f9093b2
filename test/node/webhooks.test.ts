/**
 * Webhooks from the Node host to a real HTTP receiver: signed deliveries the `standardwebhooks`
 * library verifies, retries under the same webhook-id until the last attempt, and a receiver that
 * hangs never holding up the API's answers.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readMigrations } from "../../src/node/migrations";
import { startNodeServer } from "../../src/node/server";
import { TEST_APP_SECRET } from "../suites/constants";

type Arrival = { headers: Record<string, string>; body: string };
type Mode = "ok" | "fail" | "hang";

const ENV = {
  APP_SECRET: TEST_APP_SECRET,
  WEBHOOKS_ALLOW_LOOPBACK: "true",
  WEBHOOK_RETRY_DELAY_SCALE: "0",
  PASSWORD_HASH_COST: "low",
};

describe("webhooks from the Node host to a real receiver", () => {
  const dir = mkdtempSync(join(tmpdir(), "edge-users-webhooks-"));
  const saved = Object.fromEntries(Object.keys(ENV).map((key) => [key, process.env[key]]));
  const arrivals: Arrival[] = [];
  const hanging: ServerResponse[] = [];
  let mode: Mode = "ok";
  let receiver: Server;
  let hookUrl = "";
  let base = "";
  let node: Awaited<ReturnType<typeof startNodeServer>>;
  let adminToken = "";

  const json = async (method: string, path: string, body?: unknown, token?: string) =>
    fetch(`${base}${path}`, {
      method,
      headers: {
        ...(body ? { "Content-Type": "application/json" } : {}),
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });

  const signUp = async (name: string) => {
    const res = await json("POST", "/api/users", {
      email: `${name}@example.com`,
      username: name,
      name: "Hooked",
      password: "a hooked passphrase",
    });
    expect(res.status).toBe(201);
    return (await res.json()) as { id: string; email: string };
  };

  const until = async <T>(check: () => T | undefined, what: string): Promise<T> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const value = check();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`waited 15 s for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  beforeAll(async () => {
    Object.assign(process.env, ENV);
    receiver = createServer((request: IncomingMessage, response: ServerResponse) => {
      let body = "";
      request.on("data", (chunk) => (body += chunk));
      request.on("end", () => {
        arrivals.push({ headers: request.headers as Record<string, string>, body });
        if (mode === "hang") hanging.push(response);
        else response.writeHead(mode === "ok" ? 204 : 500).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

    const client = createClient({ url: `file:${join(dir, "db.db")}` });
    node = await startNodeServer({ client, migrations: readMigrations(), port: 0 });
    await new Promise((resolve) => node.server.once("listening", resolve));
    base = `http://127.0.0.1:${(node.server.address() as AddressInfo).port}`;

    const admin = await signUp("hook_admin");
    await client.execute({ sql: "update users set role = 'admin' where id = ?", args: [admin.id] });
    const login = await json("POST", "/api/auth/login", { email: admin.email, password: "a hooked passphrase" });
    adminToken = ((await login.json()) as { token: string }).token;
  }, 60_000);

  afterAll(() => {
    for (const response of hanging) response.destroy();
    receiver?.closeAllConnections();
    receiver?.close();
    node?.close();
    rmSync(dir, { recursive: true, force: true });
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it("delivers each event signed, verifiable with standardwebhooks; a failing receiver gets every retry under one webhook-id", async () => {
    const created = await json(
      "POST",
      "/api/webhooks",
      { url: hookUrl, events: ["user.created", "webhook.test"] },
      adminToken,
    );
    expect(created.status).toBe(201);
    const { id, secret } = (await created.json()) as { id: string; secret: string };

    const user = await signUp("hooked_one");
    const arrival = await until(() => arrivals.find((a) => a.body.includes(user.id)), "the user.created delivery");
    const event = new Webhook(secret).verify(arrival.body, arrival.headers) as {
      type: string;
      data: { user: { id: string; email: string } };
    };
    expect(event).toMatchObject({ type: "user.created", data: { user: { id: user.id, email: user.email } } });

    mode = "fail";
    const before = arrivals.length;
    expect((await json("POST", `/api/webhooks/${id}/test`, undefined, adminToken)).status).toBe(202);
    const attempts = await until(() => {
      const tests = arrivals.slice(before);
      return tests.length >= 10 ? tests : undefined;
    }, "ten attempts");
    expect(new Set(attempts.map((a) => a.headers["webhook-id"])).size).toBe(1);
    for (const attempt of attempts)
      expect(() => new Webhook(secret).verify(attempt.body, attempt.headers)).not.toThrow();
    const deliveries = await json("GET", `/api/webhooks/${id}/deliveries`, undefined, adminToken);
    const [latest] = ((await deliveries.json()) as { data: { status: string; attempt: number }[] }).data;
    expect(latest).toMatchObject({ status: "failed", attempt: 10 });
    mode = "ok";
  }, 60_000);

  it("a receiver that never answers does not hold up the API: the write's answer comes first", async () => {
    mode = "hang";
    const before = arrivals.length;
    await signUp("hooked_two");
    await until(() => (hanging.length > 0 && arrivals.length > before ? true : undefined), "the hanging delivery");
    // With that delivery in flight, unanswered, the API answers as usual.
    const signIn = await json("POST", "/api/auth/login", {
      email: "hooked_two@example.com",
      password: "a hooked passphrase",
    });
    expect(signIn.status).toBe(200);
    mode = "ok";
  }, 60_000);
});
