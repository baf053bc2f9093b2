/**
 * npm run start:node [-- --port 8788] [--host ::] [--no-rate-limits]: edge-users on Node with
 * libSQL (LIBSQL_URL, by default a local file) and in-memory cache and limits. Migrations are
 * applied at start. `--no-rate-limits` turns every limit off, loudly, for load tests and test
 * suites on one machine; it is a flag of this command, never configuration a deployment carries.
 */
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { createClient } from "@libsql/client";
import { log } from "./lib/log";
import { parseTrustedProxies } from "./node/client-address";
import { DEFAULT_LIBSQL_URL, DEFAULT_NODE_PORT, ensureDatabaseDirectory, localAppSecret } from "./node/config";
import { readMigrations } from "./node/migrations";
import { startNodeServer } from "./node/server";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    host: { type: "string" },
    "rate-limits": { type: "boolean", default: true },
  },
  allowNegative: true,
  strict: true,
});
const url = process.env.LIBSQL_URL || DEFAULT_LIBSQL_URL;
ensureDatabaseDirectory(url);
// A local database file gets a local secret beside it; any other database needs APP_SECRET set.
if (!process.env.APP_SECRET && url.startsWith("file:")) {
  process.env.APP_SECRET = localAppSecret(dirname(url.slice("file:".length).split("?")[0] ?? ""));
}

const port = Number(values.port ?? process.env.PORT ?? DEFAULT_NODE_PORT);
// Reverse proxies whose X-Forwarded-For is believed; a bad value stops here, before anything serves.
let trustedProxies: ReturnType<typeof parseTrustedProxies>;
try {
  trustedProxies = parseTrustedProxies(process.env.TRUSTED_PROXIES);
} catch (error) {
  log("error", error instanceof Error ? error.message : String(error));
  process.exit(1);
}
// With LIBSQL_SYNC_URL, the file is a Turso embedded replica: reads local, writes to the primary.
const syncUrl = process.env.LIBSQL_SYNC_URL || undefined;
const client = createClient({
  url,
  authToken: process.env.LIBSQL_AUTH_TOKEN,
  syncUrl,
  syncInterval: syncUrl ? 60 : undefined,
});
// A replica must catch up before the migrator reads what is applied (it reads locally).
if (syncUrl) await client.sync();
const node = await startNodeServer({
  client,
  migrations: readMigrations(),
  port,
  hostname: values.host,
  rateLimits: values["rate-limits"],
  trustedProxies,
});
if (trustedProxies.count > 0) log("info", `X-Forwarded-For is read from ${trustedProxies.count} trusted proxy ranges`);
if (!values["rate-limits"]) log("warn", "rate limits are OFF (--no-rate-limits): every request is let through");
log("info", `edge-users on Node: http://${values.host ?? "127.0.0.1"}:${port} (database ${url.split("?")[0]})`);

// Graceful shutdown (SIGTERM from a process manager or a container runtime, SIGINT from a
// terminal): stop accepting connections, let requests in flight finish, stop the timers, then
// close the database. Requests still running after SHUTDOWN_GRACE_MS are cut off.
const SHUTDOWN_GRACE_MS = 10_000;
let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log("info", `${signal}: finishing requests in flight, then stopping`);
    const cutOff = setTimeout(() => {
      log("warn", "requests still running after the grace period; closing their connections");
      node.server.closeAllConnections();
    }, SHUTDOWN_GRACE_MS);
    cutOff.unref();
    node.close(() => {
      client.close();
      log("info", "stopped");
      process.exit(0);
    });
  });
}
