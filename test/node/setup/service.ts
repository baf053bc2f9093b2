/**
 * One `npm start` for the Node test files that need a running service (vitest.config.ts's
 * globalSetup): started once, before the files run, on a free port, with a fresh local state
 * directory, `--no-rate-limits` and PASSWORD_HASH_COST=low. It is not awaited here, so its start-up
 * overlaps the first files; `sharedService()` (test/node/http-contract.ts) waits for /health.
 * Its terminal goes to a file, which is how the test files read the mails it prints.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { freePort } from "./free-port";

/** Where the shared service answers, the local state it serves, and the file its terminal goes to. */
export type SharedService = { base: string; state: string; log: string };

declare module "vitest" {
  export interface ProvidedContext {
    service: SharedService;
  }
}

export default async function setup(project: TestProject) {
  const root = mkdtempSync(join(tmpdir(), "edge-users-service-"));
  const state = join(root, "state");
  const log = join(root, "npm-start.log");
  const [port, inspectorPort] = [await freePort(), await freePort()];
  const terminal = openSync(log, "a");
  const args = ["--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort)];
  const child: ChildProcess = spawn(
    "npm",
    ["run", "start", "--", ...args, "--persist-to", state, "--no-rate-limits", "--var", "PASSWORD_HASH_COST:low"],
    { detached: true, stdio: ["ignore", terminal, terminal] },
  );
  project.provide("service", { base: `http://127.0.0.1:${port}`, state, log });

  return async () => {
    if (child.exitCode === null && child.pid) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      process.kill(-child.pid, "SIGTERM");
      await exited;
    }
    rmSync(root, { recursive: true, force: true });
  };
}
