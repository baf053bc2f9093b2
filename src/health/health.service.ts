import { rootCauseMessage } from "../lib/errors";
import { log } from "../lib/log";
import { withTimeout } from "../lib/timeout";

export type CheckResult = { status: "ok" | "failed"; durationMs: number; error?: "error" | "timeout" };
export type Readiness = { ready: boolean; checks: { database: CheckResult; cache: CheckResult } };

export type ReadinessProbe = { check(): Promise<Readiness> };

const CHECK_TIMEOUT_MS = 2000;

// One trivial read against each dependency.
type Dependencies = {
  pingDatabase: () => Promise<unknown>;
  pingCache: () => Promise<unknown>;
};

/** Runs a trivial read against each dependency, in parallel, each bounded by a timeout. */
export function createReadinessProbe({ pingDatabase, pingCache }: Dependencies): ReadinessProbe {
  return {
    async check() {
      const [databaseResult, cacheResult] = await Promise.all([
        timed("database", pingDatabase),
        timed("cache", pingCache),
      ]);
      return {
        ready: databaseResult.status === "ok" && cacheResult.status === "ok",
        checks: { database: databaseResult, cache: cacheResult },
      };
    },
  };
}

const TIMED_OUT = "readiness check: no answer";

async function timed(name: string, check: () => Promise<unknown>): Promise<CheckResult> {
  const started = performance.now();
  try {
    await withTimeout(check(), CHECK_TIMEOUT_MS, TIMED_OUT);
    return { status: "ok", durationMs: elapsed(started) };
  } catch (error) {
    // Only a fixed word goes out: binding names and driver messages stay in our logs.
    const reason = error instanceof Error && error.message.startsWith(TIMED_OUT) ? "timeout" : "error";
    log("warn", "readiness check failed", { check: name, reason, error: rootCauseMessage(error) });
    return { status: "failed", durationMs: elapsed(started), error: reason };
  }
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}
