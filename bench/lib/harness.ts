/**
 * Builds the Worker as `wrangler deploy` would, and runs it in one local workerd (Miniflare) with
 * the bindings wrangler.toml declares (D1, KV, rate limits, Analytics Engine), next to a bare
 * hello-world Worker, so every figure has its ceiling measured in the same run.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { convertV4MiniflareOptions, type LegacyWorkerOptions, Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

const root = new URL("../..", import.meta.url).pathname;

export function buildWorker(): string {
  const outdir = mkdtempSync(join(tmpdir(), "edge-users-build-"));
  execFileSync("wrangler", ["deploy", "--dry-run", "--outdir", outdir], { cwd: root, stdio: "ignore" });
  return join(outdir, "index.js");
}

export type HarnessOptions = {
  /** Vars to override (wrangler.toml's are the default). */
  vars?: Record<string, string>;
  /**
   * Leave out the rate limiters. Throughput runs send thousands of requests from one client, which
   * the limits exist to stop (sign-ins and sign-ups would only measure 429s); locally each limiter
   * call is also a round trip to Miniflare's own service, which the edge keeps on the machine.
   */
  withoutLimits?: boolean;
  /** Open workerd's DevTools inspector on this port (for CPU profiles). */
  inspectorPort?: number;
};

/**
 * One workerd with `app` (the Worker as deployed), `app-nocache` (the same with
 * CACHE_ENABLED=false, sharing its D1 and KV) and `hello` (the ceiling), routed by Host header.
 * Logging is at warn: a benchmark measures the Worker, not a terminal printing a line per request.
 */
export async function startWorkers(
  scriptPath: string,
  { vars = {}, withoutLimits = false, inspectorPort }: HarnessOptions = {},
) {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(root, "wrangler.toml"));
  // The bundle is already built: wrangler's module rules for sources do not apply to it.
  const { modulesRules: _modulesRules, ...fromConfig } = workerOptions as unknown as LegacyWorkerOptions & {
    modulesRules?: unknown;
    bindings?: Record<string, string>;
    ratelimits?: Record<string, unknown>;
  };
  const app = {
    ...fromConfig,
    modules: true,
    scriptPath,
    modulesRoot: dirname(scriptPath),
    bindings: { ...fromConfig.bindings, LOG_LEVEL: "warn", ...vars },
    ratelimits: withoutLimits ? {} : fromConfig.ratelimits,
  } as LegacyWorkerOptions;
  // Miniflare 5 takes a new options shape; the v4 shape (wrangler's own vocabulary) converts to it.
  const launched = performance.now();
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: 0,
      inspectorPort,
      workers: [
        { ...app, name: "app", routes: ["app.bench/*"] },
        {
          ...app,
          name: "app-nocache",
          bindings: { ...(app.bindings as Record<string, string>), CACHE_ENABLED: "false" },
          routes: ["nocache.bench/*"],
        },
        {
          name: "hello",
          modules: true,
          script: 'export default { fetch() { return new Response("hello") } }',
          compatibilityDate: app.compatibilityDate,
          routes: ["hello.bench/*"],
        },
      ],
    } as Parameters<typeof convertV4MiniflareOptions>[0]),
  );
  const url = await mf.ready;
  // Start-up: from launching workerd to the Worker's first answer.
  await fetch(new URL("/health", url), { headers: { host: "app.bench" } });
  const startupMs = performance.now() - launched;
  const db = await mf.getD1Database("DB", "app");
  for (const file of readdirSync(join(root, "drizzle"))
    .filter((name) => name.endsWith(".sql"))
    .sort()) {
    const sql = readFileSync(join(root, "drizzle", file), "utf8");
    for (const statement of sql.split("--> statement-breakpoint")) {
      if (statement.trim()) await db.prepare(statement).run();
    }
  }
  return { mf, url, startupMs, hosts: { app: "app.bench", nocache: "nocache.bench", hello: "hello.bench" } };
}
