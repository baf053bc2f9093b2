/**
 * npm run db:migrate:libsql [-- --url <libsql url>]
 *
 * Applies drizzle/ to a libSQL database: LIBSQL_URL (and LIBSQL_AUTH_TOKEN) for Turso, or by
 * default the local file `npm run start:node` serves. A second run changes nothing.
 */
import { parseArgs } from "node:util";
import { createClient } from "@libsql/client";
import { applyLibsqlMigrations } from "../src/db/libsql-migrations";
import { DEFAULT_LIBSQL_URL, ensureDatabaseDirectory } from "../src/node/config";
import { readMigrations } from "../src/node/migrations";

const { values } = parseArgs({ options: { url: { type: "string" } }, strict: true });
const url = values.url ?? process.env.LIBSQL_URL ?? DEFAULT_LIBSQL_URL;
ensureDatabaseDirectory(url);

const client = createClient({ url, authToken: process.env.LIBSQL_AUTH_TOKEN });
try {
  const applied = await applyLibsqlMigrations(client, readMigrations());
  console.log(applied.length ? `Applied ${applied.join(", ")} to ${url}.` : `${url} is up to date.`);
} finally {
  client.close();
}
