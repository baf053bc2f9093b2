import { drizzle } from "drizzle-orm/d1";
import type { Logger } from "drizzle-orm/logger";
import type { RequestMetrics } from "../lib/metrics";
import { withTimeout } from "../lib/timeout";
import type { DatabaseBackend } from "./backend";
import type { Db } from "./client";
import { asDatabaseError } from "./errors";

/** D1 through the `DB` binding: the backend of the Worker's default build. */
export const d1Backend: DatabaseBackend = {
  open(env, config, metrics) {
    if (config.libsqlUrl) {
      // Refused rather than silently served from D1: the libSQL build is a separate entry point.
      throw new Error(
        "Invalid configuration: LIBSQL_URL is set, but this is the D1 build; deploy src/index.libsql.ts (npm run deploy:libsql)",
      );
    }
    return createD1Database(instrumentD1(env.DB, metrics, { timeoutMs: config.dbTimeoutMs }));
  },
  ping: (env) => env.DB.prepare("select 1").first(),
};

export function createD1Database(binding: D1Database, logger?: Logger): Db {
  return drizzle(binding, logger ? { logger } : {}) as unknown as Db;
}

// The binding, reporting each call to the request's metrics: the seam where D1 work is counted
// and timed. The application uses it exactly like the real binding.
type Timed = <T>(queries: number, run: () => Promise<T>) => Promise<T>;

class MeasuredStatement {
  constructor(
    readonly inner: D1PreparedStatement,
    private readonly timed: Timed,
  ) {}

  bind(...values: unknown[]): MeasuredStatement {
    return new MeasuredStatement(this.inner.bind(...values), this.timed);
  }

  first<T>(column?: string): Promise<T | null> {
    return this.timed(1, () => (column === undefined ? this.inner.first<T>() : this.inner.first<T>(column)));
  }

  all<T>(): Promise<D1Result<T>> {
    return this.timed(1, () => this.inner.all<T>());
  }

  run<T>(): Promise<D1Result<T>> {
    return this.timed(1, () => this.inner.run<T>());
  }

  raw<T>(options?: { columnNames?: boolean }): Promise<T[]> {
    return this.timed(1, () => this.inner.raw<T>(options as { columnNames: false }));
  }
}

// D1 measured per request, and bounded: a call that has not answered after `timeoutMs` fails like
// an unreachable D1 (a 503 to the client). A write that timed out may still land; clients retry
// creations with an Idempotency-Key, and every other write is idempotent or guarded by If-Match.
function instrumentD1(binding: D1Database, metrics: RequestMetrics, { timeoutMs }: { timeoutMs: number }): D1Database {
  const timed: Timed = (queries, run) =>
    metrics.timeDb(queries, () => asDatabaseError(withTimeout(run(), timeoutMs, "D1_ERROR: no answer")));
  const unwrap = (statement: D1PreparedStatement) =>
    statement instanceof MeasuredStatement ? statement.inner : statement;
  const measured = {
    prepare: (query: string) => new MeasuredStatement(binding.prepare(query), timed),
    batch: (statements: D1PreparedStatement[]) => timed(statements.length, () => binding.batch(statements.map(unwrap))),
    exec: (query: string) => timed(1, () => binding.exec(query)),
    withSession: (constraint?: string) => binding.withSession(constraint),
    dump: () => binding.dump(),
  };
  return measured as unknown as D1Database;
}
