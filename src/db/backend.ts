import type { AppConfig, Bindings } from "../config";
import type { RequestMetrics } from "../lib/metrics";
import type { Db } from "./client";

/**
 * How the app reaches its database, chosen by the entry point (src/index.ts: D1;
 * src/index.libsql.ts and src/node.ts: libSQL), so a D1 build carries none of libSQL's client.
 */
export type DatabaseBackend = {
  /** A Drizzle handle for one request: its calls counted in the request's metrics and bounded by DB_TIMEOUT_MS. */
  open(env: Bindings, config: AppConfig, metrics: RequestMetrics): Db;
  /** A trivial read, for the readiness probe. */
  ping(env: Bindings, config: AppConfig): Promise<unknown>;
};
