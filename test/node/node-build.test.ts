/**
 * `npm run build:node`: the built JavaScript, not the TypeScript, serves the API; it imports only
 * production dependencies; and SIGTERM lets a request in flight finish before it exits.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "./setup/free-port";

const dir = mkdtempSync(join(tmpdir(), "edge-users-node-build-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  const build = spawnSync("npm", ["run", "--silent", "build:node"], { encoding: "utf8" });
  expect(build.status, build.stderr).toBe(0);
}, 120_000);

async function startBuilt(): Promise<{ child: ChildProcess; base: string; output: () => string }> {
  const port = await freePort();
  const child = spawn(process.execPath, ["dist/node.mjs", "--port", String(port)], {
    env: { ...process.env, LIBSQL_URL: `file:${join(dir, "edge-users.db")}`, APP_SECRET: "", LOG_LEVEL: "info" },
  });
  let output = "";
  child.stdout?.on("data", (chunk) => (output += chunk));
  child.stderr?.on("data", (chunk) => (output += chunk));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (
    !(await fetch(`${base}/health`).then(
      (res) => res.ok,
      () => false,
    ))
  ) {
    if (Date.now() > deadline) throw new Error(`dist/node.mjs did not answer:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { child, base, output: () => output };
}

describe("npm run build:node", () => {
  it("imports nothing but Node's own modules and the production dependencies", () => {
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { dependencies: Record<string, string> };
    const code = readFileSync("dist/node.mjs", "utf8");
    const specifiers = [...code.matchAll(/(?:from |import\()"([^"]+)"/g)].map((match) => match[1] ?? "");
    const packages = new Set(
      specifiers
        .filter((specifier) => !specifier.startsWith("node:") && !specifier.startsWith("."))
        .map((specifier) =>
          specifier
            .split("/")
            .slice(0, specifier.startsWith("@") ? 2 : 1)
            .join("/"),
        ),
    );
    expect(packages.size).toBeGreaterThan(0);
    for (const name of packages) expect(Object.keys(pkg.dependencies), name).toContain(name);
  });

  it("serves the API, and on SIGTERM finishes the request in flight, then exits 0", async () => {
    const { child, base, output } = await startBuilt();
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    // A sign-up hashes a password (about 150 ms of CPU): still running when the signal arrives.
    const signUp = fetch(`${base}/api/users`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        email: "built@example.com",
        username: "built",
        name: "Built",
        password: "a built passphrase",
      }),
    });
    await new Promise((resolve) => setTimeout(resolve, 30));
    child.kill("SIGTERM");
    const res = await signUp;
    expect(res.status).toBe(201);
    expect(await exited).toBe(0);
    expect(output()).toMatch(/SIGTERM: finishing requests in flight[\s\S]*stopped/);
    await expect(fetch(`${base}/health`)).rejects.toThrow();
  });
});
