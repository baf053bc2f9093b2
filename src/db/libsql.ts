import type { Client, InStatement } from "@libsql/client/web";
import { drizzle } from "drizzle-orm/libsql/web";
import type { Logger } from "drizzle-orm/logger";
import type { RequestMetrics } from "../lib/metrics";
import { withTimeout } from "../lib/timeout";
import type { Db } from "./client";
import { asDatabaseError } from "./errors";

/** Drizzle over a libSQL client (the web client in Workers, the Node client elsewhere). */
export function createLibsqlDatabase(client: Client, logger?: Logger): Db {
  return drizzle(client, logger ? { logger } : {}) as unknown as Db;
}

/**
 * The libSQL client, measured per request and bounded like D1 (see instrumentD1): a call with no
 * answer after `timeoutMs` fails as an unreachable database would, which the app answers with 503.
 * Only what Drizzle uses (execute, batch) is measured; the rest passes through.
 */
export function instrumentLibsql(
  client: Client,
  metrics: RequestMetrics,
  { timeoutMs }: { timeoutMs: number },
): Client {
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
