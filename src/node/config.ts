import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

/** Where `npm run start:node` keeps its database when LIBSQL_URL is not set. */
export const DEFAULT_LIBSQL_URL = "file:.data/edge-users.db";
export const DEFAULT_NODE_PORT = 8788;

/** A local `file:` database's directory must exist before libSQL opens it. */
export function ensureDatabaseDirectory(url: string): void {
  if (url.startsWith("file:")) mkdirSync(dirname(url.slice("file:".length)), { recursive: true });
}
