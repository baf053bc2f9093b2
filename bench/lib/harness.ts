/**
 * Builds the Worker as `wrangler deploy` would, and runs it in one local workerd (Miniflare) with
 * the bindings wrangler.toml declares (D1, KV, rate limits, Analytics Engine), next to a bare
 * hello-world Worker, so every figure has its ceiling measured in the same run.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { convertV4MiniflareOptions, type LegacyWorkerOptions, Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import {
  evaluationCpuMs,
  firstAnswer,
  HELLO_WORLD_SOURCE,
  helloWorldModule,
  medianSample,
  type Startup,
  type StartupSample,
} from "./startup";

const root = new URL("../..", import.meta.url).pathname;

type Build = { scriptPath: string; remove(): void };

/** The Worker's entry points: D1 (what `npm run deploy` uploads) and libSQL (`npm run deploy:libsql`). */
export const ENTRIES = { d1: "src/index.ts", libsql: "src/index.libsql.ts" } as const;

// The bundle `wrangler deploy` would upload, in a temporary directory (`remove` deletes it).
function buildWorker(entry: string, { minify }: { minify: boolean }): Build {
  const outdir = mkdtempSync(join(tmpdir(), "edge-users-build-"));
  // wrangler's errors reach the terminal (and CI's log); its progress output does not.
  execFileSync("wrangler", ["deploy", entry, "--dry-run", "--outdir", outdir, ...(minify ? [] : ["--no-minify"])], {
    cwd: root,
    stdio: ["ignore", "ignore", "inherit"],
  });
  return {
    scriptPath: join(outdir, `${basename(entry, ".ts")}.js`),
    remove: () => rmSync(outdir, { recursive: true, force: true }),
  };
}

/** Builds the Worker, runs `use` on the bundle's path, and removes the build whatever happens. */
export async function withBuiltWorker<T>(
  use: (scriptPath: string) => Promise<T>,
  entry: string = ENTRIES.d1,
  // Unminified only for profiles, whose function names must be readable; it runs the same code.
  { minify = true }: { minify?: boolean } = {},
): Promise<T> {
  const build = buildWorker(entry, { minify });
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
  /** Other builds of the app to run beside it, by name (routed as `<name>.bench`), for A/B comparisons. */
  variants?: Record<string, string>;
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
    // No breached-password lookups: this machine has no route to Have I Been Pwned, and a network
    // round trip per sign-up is not the Worker's CPU (the check itself: docs/security.md).
    bindings: {
      ...fromConfig.bindings,
      LOG_LEVEL: "warn",
      APP_SECRET: BENCH_APP_SECRET,
      PASSWORD_BREACH_CHECK: "off",
      ...vars,
    },
    ratelimits: withoutLimits ? {} : fromConfig.ratelimits,
  } as LegacyWorkerOptions;
}

type LaunchOptions = Parameters<typeof convertV4MiniflareOptions>[0];

// Miniflare 5 takes a new options shape; the v4 shape (wrangler's own vocabulary) converts to it.
function launch(options: LaunchOptions): Miniflare {
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
  // A queue has one consumer: `app` consumes the mail queues; the copies only produce.
  const copy = { ...app, queueConsumers: undefined };
  const mf = launch({
    inspectorPort: options.inspectorPort,
    workers: [
      { ...app, name: "app", routes: ["app.bench/*"] },
      {
        ...copy,
        name: "app-nocache",
        bindings: { ...(app.bindings as Record<string, string>), CACHE_ENABLED: "false" },
        routes: ["nocache.bench/*"],
      },
      {
        ...appWorker(scriptPath, { ...options, withoutLimits: false }),
        queueConsumers: undefined,
        name: "app-limited",
        routes: ["limited.bench/*"],
      },
      {
        name: "hello",
        modules: true,
        script: HELLO_WORLD_SOURCE,
        compatibilityDate: app.compatibilityDate,
        routes: ["hello.bench/*"],
      },
      ...Object.entries(options.variants ?? {}).map(([name, path]) => ({
        ...appWorker(path, options),
        queueConsumers: undefined,
        name,
        routes: [`${name}.bench/*`],
      })),
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
 * Start-up of the app and of the hello-world Worker, interleaved run by run so a slow moment of
 * the machine falls on both (bench/lib/startup.ts says what each figure is). The hello-world
 * Worker gets the app's bindings and flags, so what Miniflare sets up for them (D1, KV, static
 * assets, nodejs_compat) is the same on both sides and the difference is the app's own. The app's
 * first request is `GET /health`: the whole middleware chain, no database.
 */
export async function measureStartups(scriptPath: string, runs: number): Promise<Startup> {
  const helloPath = helloWorldModule(dirname(scriptPath));
  const app = { ...appWorker(scriptPath, { withoutLimits: true }), name: "app" };
  const {
    scriptPath: _script,
    modulesRoot: _root,
    ...bindings
  } = app as LegacyWorkerOptions & {
    scriptPath?: string;
    modulesRoot?: string;
  };
  const hello = { ...bindings, name: "hello", modules: true, script: HELLO_WORLD_SOURCE };
  const samples = { app: [] as StartupSample[], hello: [] as StartupSample[] };
  for (let run = 0; run < runs; run++) {
    samples.hello.push({
      evaluationCpuMs: evaluationCpuMs(helloPath),
      ...(await firstAnswer(() => launch({ workers: [hello] } as LaunchOptions), "/")),
    });
    samples.app.push({
      evaluationCpuMs: evaluationCpuMs(scriptPath),
      ...(await firstAnswer(() => launch({ workers: [app] } as LaunchOptions), "/health")),
    });
  }
  return { app: medianSample(samples.app), hello: medianSample(samples.hello), runs };
}
