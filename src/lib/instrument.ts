import { DatabaseError } from "../db/errors";
import type { RequestMetrics } from "./metrics";
import { withTimeout } from "./timeout";

/** A failure of a database call, marked as the database's (see DatabaseError). */
export async function asDatabaseError<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw error instanceof DatabaseError ? error : new DatabaseError(error);
  }
}

// Bindings that report each call to the request's metrics. They are the seams where database
// and KV work is counted and timed; the application uses them exactly like the real bindings.
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

/**
 * D1 measured per request, and bounded: a call that has not answered after `timeoutMs` fails like
 * an unreachable D1 (a 503 to the client). A write that timed out may still land; clients retry
 * creations with an Idempotency-Key, and every other write is idempotent or guarded by If-Match.
 */
export function instrumentD1(
  binding: D1Database,
  metrics: RequestMetrics,
  { timeoutMs }: { timeoutMs: number },
): D1Database {
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

export function instrumentKV(binding: KVNamespace, metrics: RequestMetrics): KVNamespace {
  const measured = {
    get: (key: string, options?: unknown) => metrics.timeKv(() => binding.get(key, options as "text")),
    getWithMetadata: (key: string, options?: unknown) =>
      metrics.timeKv(() => binding.getWithMetadata(key, options as "text")),
    put: (key: string, value: string, options?: KVNamespacePutOptions) =>
      metrics.timeKv(() => binding.put(key, value, options)),
    delete: (key: string) => metrics.timeKv(() => binding.delete(key)),
    list: (options?: KVNamespaceListOptions) => metrics.timeKv(() => binding.list(options)),
  };
  return measured as unknown as KVNamespace;
}
