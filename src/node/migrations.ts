import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Migration } from "../db/libsql-migrations";

/**
 * drizzle/ of this checkout: found upwards from this module, which is src/node/ when run with tsx
 * and dist/ when built (`npm run build:node`), or MIGRATIONS_DIR when set.
 */
function migrationsDirectory(): string {
  if (process.env.MIGRATIONS_DIR) return process.env.MIGRATIONS_DIR;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "drizzle"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("drizzle/ (the migrations) not found; set MIGRATIONS_DIR");
    dir = parent;
  }
  return join(dir, "drizzle");
}

/** The SQL files drizzle-kit generated, as the libSQL migrator takes them. */
export function readMigrations(dir = migrationsDirectory()): Migration[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith(".sql"))
    .sort()
    .map((name) => ({ name, sql: readFileSync(join(dir, name), "utf8") }));
}
