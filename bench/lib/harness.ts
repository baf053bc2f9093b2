/**
 * Builds the Worker as `wrangler deploy` would, and runs it in one local workerd (Miniflare) with
 * the bindings wrangler.toml declares (D1, KV, rate limits, Analytics Engine), next to a bare
 * hello-world Worker, so every figure has its ceiling measured in the same run.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { convertV4MiniflareOptions, type LegacyWorkerOptions, Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

const root = new URL("../..", import.meta.url).pathname;

type Build = { scriptPath: string; remove(): void };

// The bundle `wrangler deploy` would upload, in a temporary directory (`remove` deletes it).
function buildWorker(): Build {
  const outdir = mkdtempSync(join(tmpdir(), "edge-users-build-"));
  // wrangler's errors reach the terminal (and CI's log); its progress output does not.
  execFileSync("wrangler", ["deploy", "--dry-run", "--outdir", outdir], {
    cwd: root,
    stdio: ["ignore", "ignore", "inherit"],
  });
  return {
    scriptPath: join(outdir, "index.js"),
    remove: () => rmSync(outdir, { recursive: true, force: true }),
  };
}

/** Builds the Worker, runs `use` on the bundle's path, and removes the build whatever happens. */
export async function withBuiltWorker<T>(use: (scriptPath: string) => Promise<T>): Promise<T> {
  const build = buildWorker();
  try {
    return await use(build.scriptPath);
  } finally {
    build.remove();
  }
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

// A secret in production (wrangler secret put); any 32 characters do for a benchmark.
const BENCH_APP_SECRET = "bench-app-secret-0123456789abcdefghijklmnop";

// The app Worker's options: wrangler.toml's bindings, run from the built bundle.
function appWorker(scriptPath: string, { vars = {}, withoutLimits = false }: HarnessOptions): LegacyWorkerOptions {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(root, "wrangler.toml"));
  // The bundle is already built: wrangler's module rules for sources do not apply to it.
  const { modulesRules: _modulesRules, ...fromConfig } = workerOptions as unknown as LegacyWorkerOptions & {
    modulesRules?: unknown;
    bindings?: Record<string, string>;
    ratelimits?: Record<string, unknown>;
  };
  return {
    ...fromConfig,
    modules: true,
    scriptPath,
    modulesRoot: dirname(scriptPath),
    bindings: { ...fromConfig.bindings, LOG_LEVEL: "warn", APP_SECRET: BENCH_APP_SECRET, ...vars },
    ratelimits: withoutLimits ? {} : fromConfig.ratelimits,
  } as LegacyWorkerOptions;
}

// Miniflare 5 takes a new options shape; the v4 shape (wrangler's own vocabulary) converts to it.
function launch(options: Parameters<typeof convertV4MiniflareOptions>[0]): Miniflare {
  return new Miniflare(convertV4MiniflareOptions({ host: "127.0.0.1", port: 0, ...options }));
}

/**
 * One workerd with `app` (the Worker as deployed), `app-nocache` (the same with
 * CACHE_ENABLED=false), `app-limited` (the same with every rate limiter on, whatever
 * `withoutLimits` says) and `hello` (the ceiling), routed by Host header. The three copies of the
 * app share one D1 database and one KV namespace. Logging is at warn: a benchmark measures the
 * Worker, not a terminal printing a line per request.
 */
export async function startWorkers(scriptPath: string, options: HarnessOptions = {}) {
  const app = appWorker(scriptPath, options);
  const mf = launch({
    inspectorPort: options.inspectorPort,
    workers: [
      { ...app, name: "app", routes: ["app.bench/*"] },
      {
        ...app,
        name: "app-nocache",
        bindings: { ...(app.bindings as Record<string, string>), CACHE_ENABLED: "false" },
        routes: ["nocache.bench/*"],
      },
      {
        ...appWorker(scriptPath, { ...options, withoutLimits: false }),
        name: "app-limited",
        routes: ["limited.bench/*"],
      },
      {
        name: "hello",
        modules: true,
        script: 'export default { fetch() { return new Response("hello") } }',
        compatibilityDate: app.compatibilityDate,
        routes: ["hello.bench/*"],
      },
    ],
  } as Parameters<typeof convertV4MiniflareOptions>[0]);
  let url: URL;
  try {
    url = await mf.ready;
    const db = await mf.getD1Database("DB", "app");
    for (const file of readdirSync(join(root, "drizzle"))
      .filter((name) => name.endsWith(".sql"))
      .sort()) {
      const sql = readFileSync(join(root, "drizzle", file), "utf8");
      for (const statement of sql.split("--> statement-breakpoint")) {
        if (statement.trim()) await db.prepare(statement).run();
      }
    }
  } catch (error) {
    // A workerd left running would keep this process alive after the error.
    await mf.dispose();
    throw error;
  }
  return {
    mf,
    url,
    hosts: { app: "app.bench", nocache: "nocache.bench", limited: "limited.bench", hello: "hello.bench" },
  };
}

/**
 * Start-up: from launching workerd with the app alone (as `wrangler dev` or a fresh machine
 * would) to the app's first answered request (`GET /health`), in milliseconds. Includes
 * Miniflare's own start (its loopback server, writing workerd's config), which the edge does not
 * have, and the bundle's parse and top-level evaluation, which it does.
 */
export async function measureStartup(scriptPath: string): Promise<number> {
  const launched = performance.now();
  const mf = launch({ workers: [{ ...appWorker(scriptPath, { withoutLimits: true }), name: "app" }] } as Parameters<
    typeof convertV4MiniflareOptions
  >[0]);
  try {
    const res = await mf.dispatchFetch("http://localhost/health");
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`GET /health answered ${res.status} at start-up`);
    return performance.now() - launched;
  } finally {
    await mf.dispose();
  }
}
