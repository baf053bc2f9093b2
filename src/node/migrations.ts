import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Migration } from "../db/libsql-migrations";

const root = new URL("../..", import.meta.url).pathname;

/** The SQL files drizzle-kit generated, as the libSQL migrator takes them. */
export function readMigrations(dir = join(root, "drizzle")): Migration[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith(".sql"))
    .sort()
    .map((name) => ({ name, sql: readFileSync(join(dir, name), "utf8") }));
}
