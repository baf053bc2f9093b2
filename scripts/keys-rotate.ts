/**
 * npm run keys:rotate [-- --remote] [--persist-to <dir>]
 *
 * Asks the service for a new signing key. The key itself is made by the Worker (only it holds
 * APP_SECRET, which encrypts private keys): at its next cron run (every minute when deployed) or
 * the next key refresh of any isolate (every five minutes; `wrangler dev` runs no cron). The new key is published at once and signs
 * an hour later; the current one keeps signing until then, and stays published until every token
 * it signed has expired. Asking again while a key is waiting changes nothing. The same maintenance
 * seals again under APP_SECRET every private key still sealed under APP_SECRET_PREVIOUS (step 3 of
 * docs/tokens.md#rotating-app_secret).
 */
import { keyRotationRequests, signingKeys } from "../src/db/schema";
import { parseOptions } from "./lib/cli";
import { sqlBuilder } from "./lib/d1";
import { commandDatabase, DatabaseCommandError } from "./lib/database";

const USAGE = `Usage: npm run keys:rotate [-- --remote | --libsql] [--persist-to <dir>]

Asks the service for a new access-token signing key: published at once, signing an hour later.
The same maintenance re-seals under APP_SECRET any key still sealed under APP_SECRET_PREVIOUS.
  --remote            the deployed D1 database (else the local one npm start serves)
  --libsql            the libSQL database (LIBSQL_URL, else the file npm run start:node serves)
  --persist-to <dir>  the local state directory, as given to npm start
  -h, --help          this help`;
const values = parseOptions("keys:rotate", USAGE, {
  remote: { type: "boolean", default: false },
  libsql: { type: "boolean", default: false },
  "persist-to": { type: "string" },
});
const database = commandDatabase({ remote: values.remote, libsql: values.libsql, persistTo: values["persist-to"] });
const { where } = database;

try {
  await database.prepare();
  const now = new Date();
  const request = sqlBuilder
    .insert(keyRotationRequests)
    .values({ id: "signing-key", requestedAt: now })
    .onConflictDoNothing();
  const keys = sqlBuilder.select({ kid: signingKeys.kid, signsFrom: signingKeys.signsFrom }).from(signingKeys);
  const [, rows] = await database.run([request.toSQL(), keys.toSQL()]);
  const waiting = (rows ?? []).filter((row) => Number(row.signs_from) > now.getTime());
  if (waiting.length > 0) {
    const signsFrom = new Date(Number(waiting[0]?.signs_from)).toISOString();
    console.log(
      `A new key (${waiting[0]?.kid}) is already published in ${where}; it signs from ${signsFrom}. The service's next cron run or key refresh re-seals every key under APP_SECRET.`,
    );
  } else {
    console.log(
      `Rotation requested in ${where}. The service makes the new key at its next cron run (every minute when deployed) or key refresh (within five minutes), publishes it at once in /.well-known/jwks.json, and signs with it an hour later. The same run re-seals under APP_SECRET any key still sealed under APP_SECRET_PREVIOUS.`,
    );
  }
} catch (error) {
  if (error instanceof DatabaseCommandError) {
    console.error(`keys:rotate: ${error.message}\n${error.output.trim()}`);
    process.exit(1);
  }
  throw error;
} finally {
  database.close();
}
