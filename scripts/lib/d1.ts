/**
 * Talks to the D1 database that `npm start` serves (local) or the deployed one (`--remote`)
 * through `wrangler d1 execute`, the same path wrangler's own migrations take.
 */
import { spawnSync } from "node:child_process";
import { drizzle } from "drizzle-orm/sqlite-proxy";

export type Target = { remote: boolean; persistTo?: string | undefined };

export class D1CommandError extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
  }
}

function targetArgs({ remote, persistTo }: Target): string[] {
  if (remote) return ["--remote"];
  return ["--local", ...(persistTo ? ["--persist-to", persistTo] : [])];
}

function wrangler(args: string[]) {
  // stdin is not a terminal, so wrangler never stops to ask a question.
  return spawnSync("wrangler", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Applies pending migrations from drizzle/ (local only: remote migrations are a deliberate step). */
export function applyLocalMigrations(target: Target): void {
  if (target.remote) return;
  const result = wrangler(["d1", "migrations", "apply", "DB", ...targetArgs(target)]);
  if (result.status !== 0) throw new D1CommandError("Applying migrations failed.", result.stdout + result.stderr);
}

/** Runs SQL (one or more statements) and returns each statement's rows. */
export function execute(target: Target, sql: string): Record<string, unknown>[][] {
  const result = wrangler(["d1", "execute", "DB", ...targetArgs(target), "--json", "--command", sql]);
  if (result.status !== 0) {
    throw new D1CommandError("The database refused the statement.", `${result.stdout}\n${result.stderr}`);
  }
  const parsed = JSON.parse(result.stdout) as { results: Record<string, unknown>[] }[];
  return parsed.map((statement) => statement.results);
}

/**
 * Drizzle only as a SQL builder here: queries are written against the same schema as the
 * service, then rendered to literal SQL because `wrangler d1 execute` takes no parameters.
 */
export const sqlBuilder = drizzle(async () => ({ rows: [] }));

export function toLiteralSql({ sql, params }: { sql: string; params: unknown[] }): string {
  let index = 0;
  return sql.replace(/\?/g, () => literal(params[index++]));
}

function literal(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (typeof value === "string") {
    if (value.includes("\0")) throw new Error("NUL characters cannot be stored");
    // SQLite string literals have exactly one escape: a doubled single quote.
    return `'${value.replaceAll("'", "''")}'`;
  }
  throw new Error(`Cannot render ${typeof value} as SQL`);
}
