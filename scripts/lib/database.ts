/**
 * The database a command writes into, chosen the way the service chooses its own:
 * - D1: the local one `npm start` serves (default; `--persist-to`), or the deployed one (`--remote`),
 *   through `wrangler d1 execute`;
 * - libSQL (`--libsql`): LIBSQL_URL (with LIBSQL_AUTH_TOKEN) as `start:node` and the libSQL Worker
 *   read it, or the local file `start:node` serves when it is unset.
 * Queries are Drizzle's, over the service's own schema.
 */
import { createClient } from "@libsql/client";
import { applyLibsqlMigrations } from "../../src/db/libsql-migrations";
import { DEFAULT_LIBSQL_URL, ensureDatabaseDirectory } from "../../src/node/config";
import { readMigrations } from "../../src/node/migrations";
import { applyLocalMigrations, D1CommandError, execute, type Target, toLiteralSql } from "./d1";

export type Query = { sql: string; params: unknown[] };

export type CommandDatabase = {
  /** "the local D1 database", "the libSQL database file:.data/edge-users.db", … */
  where: string;
  /** Whether `prepare` applies migrations (local databases) or leaves them to a deliberate step. */
  local: boolean;
  /** How to apply migrations to it by hand. */
  migrateCommand: string;
  /** Applies pending migrations to a local database; nothing for a deployed one. */
  prepare(): Promise<void>;
  /** Runs the queries in order (in one batch), each one's rows back. */
  run(queries: Query[]): Promise<Record<string, unknown>[][]>;
  close(): void;
};

/** A database's refusal, with the text to recognise it by (a unique index, a missing table). */
export class DatabaseCommandError extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
  }
}

export function commandDatabase(options: { remote?: boolean; libsql?: boolean; persistTo?: string }): CommandDatabase {
  return options.libsql
    ? libsqlDatabase()
    : d1Database({ remote: options.remote ?? false, persistTo: options.persistTo });
}

function d1Database(target: Target): CommandDatabase {
  return {
    where: target.remote ? "the deployed (remote) D1 database" : "the local D1 database",
    local: !target.remote,
    migrateCommand: "npm run db:migrate:remote",
    async prepare() {
      try {
        applyLocalMigrations(target);
      } catch (error) {
        throw error instanceof D1CommandError ? new DatabaseCommandError(error.message, error.output) : error;
      }
    },
    async run(queries) {
      try {
        return execute(target, queries.map(toLiteralSql).join(";\n"));
      } catch (error) {
        throw error instanceof D1CommandError ? new DatabaseCommandError(error.message, error.output) : error;
      }
    },
    close() {},
  };
}

function libsqlDatabase(): CommandDatabase {
  const url = process.env.LIBSQL_URL || DEFAULT_LIBSQL_URL;
  const local = url.startsWith("file:");
  if (local) ensureDatabaseDirectory(url);
  const client = createClient({ url, authToken: process.env.LIBSQL_AUTH_TOKEN || undefined });
  return {
    where: `the libSQL database ${url.split("?")[0]}`,
    local,
    migrateCommand: "npm run db:migrate:libsql",
    async prepare() {
      if (local) await applyLibsqlMigrations(client, readMigrations());
    },
    async run(queries) {
      try {
        const results = await client.batch(
          queries.map(({ sql, params }) => ({ sql, args: params as never })),
          "write",
        );
        return results.map((result) =>
          result.rows.map((row) => Object.fromEntries(result.columns.map((column, i) => [column, row[i]]))),
        );
      } catch (error) {
        const output = error instanceof Error ? `${error.message} ${String(error.cause ?? "")}` : String(error);
        throw new DatabaseCommandError("The database refused the statement.", output);
      }
    },
    close: () => client.close(),
  };
}
