/**
 * Drives a running edge-users over real HTTP: the contract checks that every way of running it
 * (`npm start` on workerd, `npm run start:node` on Node) must pass alike.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { expect, inject, it } from "vitest";

/** Waits until `base` answers /health, for at most 90 s. */
async function answering(base: string, name: string, output: () => string): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const ok = await fetch(`${base}/health`).then(
      (res) => res.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${name} did not answer within 90 s:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * The `npm start` every Node test file shares (test/node/setup/service.ts), once it answers. Its
 * database holds what the files put there; a file that needs a database of its own, or other
 * settings, starts its own with `startServer`.
 */
export async function sharedService() {
  const { base, state, log } = inject("service");
  const output = () => readFileSync(log, "utf8");
  await answering(base, "the shared npm start", output);
  return { base, state, output };
}

/** Starts an npm script in its own process group and waits until it answers /health. */
export async function startServer(script: string, args: string[], port: number, env: Record<string, string> = {}) {
  let output = "";
  const child: ChildProcess = spawn("npm", ["run", script, "--", ...args], {
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  child.stdout?.on("data", (chunk) => (output += chunk));
  child.stderr?.on("data", (chunk) => (output += chunk));
  const base = `http://127.0.0.1:${port}`;
  await answering(base, script, () => output);
  return {
    base,
    output: () => output,
    stop: () => {
      if (child.pid) process.kill(-child.pid, "SIGTERM");
    },
  };
}

export function client(base: () => string) {
  return (method: string, path: string, body?: unknown, token?: string, headers: Record<string, string> = {}) =>
    fetch(`${base()}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
}

/**
 * The link to `{APP_URL}/{page}` in the newest mail to `to` that MAIL_TRANSPORT=log printed to the
 * server's terminal, as a developer would copy it.
 */
export async function linkFromTerminal(output: () => string, to: string, page: string, after = 0): Promise<string> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const printed = output().slice(after);
    const mails = printed.split("┌── mail").filter((mail) => mail.includes(`To: ${to}\n`));
    const link = mails.at(-1)?.match(new RegExp(`(http://\\S+/${page}\\?token=[A-Za-z0-9_-]{43})`))?.[1];
    if (link) return link;
    if (Date.now() > deadline) throw new Error(`no ${page} mail to ${to} in the terminal:\n${printed.slice(-3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The contract over HTTP. `name` keeps its accounts apart from other runs on the same database. */
export function httpContract(server: () => { base: string; output: () => string }, name: string) {
  const base = () => server().base;
  const json = client(base);
  const account = { email: `${name}@example.com`, username: name, name: "Contract", password: "contract passphrase" };

  it("is ready: migrations applied, database and cache reachable", async () => {
    // A check that misses its deadline while the machine is loaded (other files starting their
    // servers) is a 503 that names it; readiness is that the answer becomes 200.
    await expect.poll(async () => (await json("GET", "/ready")).status).toBe(200);
    const res = await json("GET", "/ready");
    expect(res.status).toBe(200);
    expect(res.headers.get("X-Request-Id")).toBeTruthy();
    expect(res.headers.get("Server-Timing")).toMatch(/total;dur=/);
  });

  it("create → login → me → conditional update → logout", async () => {
    const created = await json("POST", "/api/users", account, undefined, { "Idempotency-Key": `${name}-1` });
    expect(created.status).toBe(201);
    const user = (await created.json()) as { id: string };
    const replay = await json("POST", "/api/users", account, undefined, { "Idempotency-Key": `${name}-1` });
    expect(replay.headers.get("Idempotent-Replayed")).toBe("true");

    const login = await json("POST", "/api/auth/login", { email: account.email, password: account.password });
    expect(login.status).toBe(200);
    const { token } = (await login.json()) as { token: string };
    const me = await json("GET", "/api/auth/me", undefined, token);
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ id: user.id, email: account.email, role: "member" });

    const stale = await json("PATCH", `/api/users/${user.id}`, { name: "Late" }, token, { "If-Match": '"v9"' });
    expect(stale.status).toBe(412);
    const patched = await json("PATCH", `/api/users/${user.id}`, { name: "Renamed" }, token, { "If-Match": '"v1"' });
    expect(patched.status).toBe(200);
    expect(patched.headers.get("ETag")).toBe('"v2"');
    const profile = await json("GET", `/api/users/${user.id}`);
    expect(await profile.json()).toMatchObject({ name: "Renamed" });

    expect((await json("POST", "/api/auth/logout", undefined, token)).status).toBe(204);
    expect((await json("GET", "/api/auth/me", undefined, token)).status).toBe(401);
  });

  it("mails go to the terminal (MAIL_TRANSPORT=log): the sign-up's link verifies, a reset link sets a new password", async () => {
    const mailed = { ...account, email: `${name}-mail@example.com`, username: `${name}_mail` };
    const { output } = server();
    const created = await json("POST", "/api/users", mailed);
    expect(created.status).toBe(201);
    const verify = new URL(await linkFromTerminal(output, mailed.email, "verify-email"));
    const confirmed = await json("POST", "/api/auth/email-verification/confirm", {
      token: verify.searchParams.get("token"),
    });
    expect(confirmed.status).toBe(200);
    expect(await confirmed.json()).toMatchObject({ email: mailed.email, emailVerified: true });

    const before = output().length;
    expect((await json("POST", "/api/auth/password-reset", { email: mailed.email })).status).toBe(202);
    const reset = new URL(await linkFromTerminal(output, mailed.email, "reset-password", before));
    const newPassword = "a new contract passphrase";
    const done = await json("POST", "/api/auth/password-reset/confirm", {
      token: reset.searchParams.get("token"),
      password: newPassword,
    });
    expect(done.status).toBe(204);
    expect((await json("POST", "/api/auth/login", { email: mailed.email, password: newPassword })).status).toBe(200);
    expect((await json("POST", "/api/auth/login", { email: mailed.email, password: mailed.password })).status).toBe(
      401,
    );
  });

  it("access tokens: signed at sign-in, verifiable with the published keys, accepted by the API; sessions listed", async () => {
    const created = await json("POST", "/api/users", {
      ...account,
      email: `at-${account.email}`,
      username: `at${name}`,
    });
    expect(created.status).toBe(201);
    const login = await json("POST", "/api/auth/login", { email: `at-${account.email}`, password: account.password });
    const { token, accessToken } = (await login.json()) as { token: string; accessToken: string };
    const jwks = (await (await json("GET", "/.well-known/jwks.json")).json()) as {
      keys: { kid: string; d?: string }[];
    };
    const kid = JSON.parse(Buffer.from(accessToken.split(".")[0] ?? "", "base64url").toString()).kid;
    expect(jwks.keys.map((key) => key.kid)).toContain(kid);
    expect(jwks.keys.every((key) => key.d === undefined)).toBe(true);
    const me = await json("GET", "/api/auth/me", undefined, accessToken);
    expect(me.status).toBe(200);
    const sessions = await json("GET", "/api/auth/sessions", undefined, accessToken);
    expect(((await sessions.json()) as { data: { current: boolean }[] }).data).toEqual([
      expect.objectContaining({ current: true }),
    ]);
    expect((await json("POST", "/api/auth/logout", undefined, token)).status).toBe(204);
    const write = await json(
      "PATCH",
      `/api/users/${((await me.json()) as { id: string }).id}`,
      { name: "X" },
      accessToken,
    );
    expect(write.status).toBe(401);
  });

  it("answers problems as application/problem+json", async () => {
    const res = await json("GET", "/api/nothing-here");
    expect(res.status).toBe(404);
    expect(res.headers.get("Content-Type")).toBe("application/problem+json");
    const invalid = await json("POST", "/api/users", { email: "nope" });
    expect(invalid.status).toBe(400);
  });

  it("serves the OpenAPI document and the docs page", async () => {
    expect((await json("GET", "/openapi.json")).status).toBe(200);
    expect((await json("GET", "/docs")).status).toBe(200);
  });
}
