import { type Client, createClient, type InStatement } from "@libsql/client/web";
import { drizzle } from "drizzle-orm/libsql/web";
import type { Logger } from "drizzle-orm/logger";
import type { AppConfig, Bindings } from "../config";
import type { RequestMetrics } from "../lib/metrics";
import { withTimeout } from "../lib/timeout";
import type { DatabaseBackend } from "./backend";
import type { Db } from "./client";
import { asDatabaseError } from "./errors";

/**
 * libSQL (Turso): a client handed in by the host (`LIBSQL_CLIENT`, Node's file-capable one), or on
 * Workers the web client for LIBSQL_URL, made once per isolate. The backend of
 * src/index.libsql.ts and of the Node host.
 */
export const libsqlBackend: DatabaseBackend = {
  open: (env, config, metrics) =>
    createLibsqlDatabase(instrumentLibsql(libsqlClient(env, config), metrics, { timeoutMs: config.dbTimeoutMs })),
  ping: (env, config) => libsqlClient(env, config).execute("select 1"),
};

// Keyed by the bindings object, which workerd hands unchanged to every request of an isolate.
const clients = new WeakMap<object, Client>();

function libsqlClient(env: Bindings, config: AppConfig): Client {
  if (env.LIBSQL_CLIENT) return env.LIBSQL_CLIENT;
  let client = clients.get(env);
  if (!client) {
    if (!config.libsqlUrl) throw new Error("Invalid configuration: LIBSQL_URL is required by the libSQL build");
    if (config.libsqlUrl.startsWith("file:")) {
      throw new Error("Invalid configuration: LIBSQL_URL file: needs a filesystem; use it with npm run start:node");
    }
    client = createClient({ url: config.libsqlUrl, authToken: config.libsqlAuthToken });
    clients.set(env, client);
  }
  return client;
}

/** Drizzle over a libSQL client (the web client in Workers, the Node client elsewhere). */
export function createLibsqlDatabase(client: Client, logger?: Logger): Db {
  return drizzle(client, logger ? { logger } : {}) as unknown as Db;
}

// The libSQL client, measured per request and bounded like D1 (see instrumentD1): a call with no
// answer after `timeoutMs` fails as an unreachable database would, which the app answers with 503.
// Only what Drizzle uses (execute, batch) is measured; the rest passes through.
function instrumentLibsql(client: Client, metrics: RequestMetrics, { timeoutMs }: { timeoutMs: number }): Client {
  const timed = <T>(queries: number, work: () => Promise<T>) =>
    metrics.timeDb(queries, () => asDatabaseError(withTimeout(work(), timeoutMs, "LIBSQL_ERROR: no answer")));
  return {
    execute: ((statement: InStatement | string, args?: unknown) =>
      timed(1, () => client.execute(statement as never, args as never))) as Client["execute"],
    batch: (statements, mode) => timed(statements.length, () => client.batch(statements, mode)),
    migrate: (statements) => client.migrate(statements),
    transaction: ((mode?: never) => client.transaction(mode)) as Client["transaction"],
    executeMultiple: (sql) => client.executeMultiple(sql),
    sync: () => client.sync(),
    close: () => client.close(),
    reconnect: () => client.reconnect(),
    get closed() {
      return client.closed;
    },
    get protocol() {
      return client.protocol;
    },
  } satisfies Client;
}
