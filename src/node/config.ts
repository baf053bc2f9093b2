import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** Where `npm run start:node` keeps its database when LIBSQL_URL is not set. */
export const DEFAULT_LIBSQL_URL = "file:.data/edge-users.db";
export const DEFAULT_NODE_PORT = 8788;

/** A local `file:` database's directory must exist before libSQL opens it. */
export function ensureDatabaseDirectory(url: string): void {
  if (url.startsWith("file:")) mkdirSync(dirname(url.slice("file:".length)), { recursive: true });
}

/**
 * The APP_SECRET of a local database: made once (32 random bytes) and kept in `directory`, beside
 * the data it protects, so a local setup needs no manual step and wiping the state resets both.
 * Deployments set APP_SECRET themselves; nothing here is used for them.
 */
export function localAppSecret(directory: string): string {
  const path = join(directory, "app-secret");
  if (existsSync(path)) return readFileSync(path, "utf8").trim();
  mkdirSync(directory, { recursive: true });
  const secret = randomBytes(32).toString("base64url");
  writeFileSync(path, `${secret}\n`, { mode: 0o600 });
  return secret;
}
