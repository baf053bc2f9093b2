/**
 * Builds the Worker as `wrangler deploy` would, and runs it in one local workerd (Miniflare)
 * next to a bare hello-world Worker, so every figure has its ceiling measured in the same run.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { convertV4MiniflareOptions, type LegacyWorkerOptions, Miniflare } from "miniflare";

const root = new URL("../..", import.meta.url).pathname;

export function buildWorker(): string {
  const outdir = mkdtempSync(join(tmpdir(), "edge-users-build-"));
  execFileSync("wrangler", ["deploy", "--dry-run", "--outdir", outdir], { cwd: root, stdio: "ignore" });
  return join(outdir, "index.js");
}

function wranglerVars(): Record<string, string> {
  const toml = readFileSync(join(root, "wrangler.toml"), "utf8");
  const vars = toml.split("[vars]")[1]?.split(/\n\[/)[0] ?? "";
  return Object.fromEntries([...vars.matchAll(/^(\w+) = "([^"]*)"/gm)].map((match) => [match[1], match[2]]));
}

function compatibilityDate(): string {
  const toml = readFileSync(join(root, "wrangler.toml"), "utf8");
  return /^compatibility_date = "([^"]+)"/m.exec(toml)?.[1] ?? "2026-11-01";
}

export type Hosts = Record<string, string>;

/**
 * One workerd with: `app` (the Worker as deployed), `app-nocache` (the same with
 * CACHE_ENABLED=false, sharing its D1) and `hello` (the ceiling). Routed by Host header.
 */
export async function startWorkers(scriptPath: string, extraVars: Record<string, string> = {}) {
  const shared = {
    modules: true,
    scriptPath,
    modulesRoot: dirname(scriptPath),
    compatibilityDate: compatibilityDate(),
    d1Databases: { DB: "edge-users-bench" },
    kvNamespaces: { CACHE: "edge-users-bench-cache" },
  } satisfies Partial<LegacyWorkerOptions>;
  const vars = { ...wranglerVars(), ...extraVars };
  // Miniflare 5 takes a new options shape; the v4 shape (wrangler's own vocabulary) converts to it.
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: 0,
      workers: [
        { ...shared, name: "app", bindings: vars, routes: ["app.bench/*"] },
        { ...shared, name: "app-nocache", bindings: { ...vars, CACHE_ENABLED: "false" }, routes: ["nocache.bench/*"] },
        {
          name: "hello",
          modules: true,
          script: 'export default { fetch() { return new Response("hello") } }',
          compatibilityDate: compatibilityDate(),
          routes: ["hello.bench/*"],
        },
      ],
    }),
  );
  const url = await mf.ready;
  const db = await mf.getD1Database("DB", "app");
  for (const file of readdirSync(join(root, "drizzle"))
    .filter((name) => name.endsWith(".sql"))
    .sort()) {
    const sql = readFileSync(join(root, "drizzle", file), "utf8");
    for (const statement of sql.split("--> statement-breakpoint")) {
      if (statement.trim()) await db.prepare(statement).run();
    }
  }
  return { mf, url, hosts: { app: "app.bench", nocache: "nocache.bench", hello: "hello.bench" } };
}
