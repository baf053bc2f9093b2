/**
 * edge-users itself on Node (src/node.ts: the same app over libSQL, with the in-process memory
 * cache), for comparing with Express on the same runtime. A fresh libSQL file, limits off (one
 * client sends everything), logging at warn, as the Worker runs in the bench.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type NodeApp = { url: URL; pid: number; stop(): void };

const root = new URL("../..", import.meta.url).pathname;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function startNodeApp(): Promise<NodeApp> {
  const dir = mkdtempSync(join(tmpdir(), "edge-users-node-bench-"));
  const port = await freePort();
  // One process (tsx as an import hook, not its CLI, which would add a parent process).
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", "src/node.ts", "--port", String(port), "--no-rate-limits"],
    {
      cwd: root,
      env: { ...process.env, LIBSQL_URL: `file:${join(dir, "bench.db")}`, LOG_LEVEL: "warn", LOG_FORMAT: "json" },
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  const stop = () => {
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  };
  const url = new URL(`http://127.0.0.1:${port}`);
  for (let attempt = 0; attempt < 300; attempt++) {
    if (child.exitCode !== null) break;
    try {
      if ((await fetch(new URL("/health", url))).ok) return { url, pid: child.pid ?? 0, stop };
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  stop();
  throw new Error("edge-users on Node did not start (npm run start:node)");
}
