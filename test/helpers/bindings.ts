/**
 * Stand-ins for bindings: ones that fail or hang the way the real ones do when a dependency is
 * down, and ones that count the calls the application makes, outside its own instrumentation.
 */
import { env } from "cloudflare:workers";

/** A D1 binding whose every query fails the way D1 does when it is unreachable. */
export function failingD1(message = "D1_ERROR: Network connection lost."): D1Database {
  const fail = () => Promise.reject(new Error(message));
  const statement = { bind: () => statement, first: fail, all: fail, run: fail, raw: fail };
  return { prepare: () => statement, batch: fail, exec: fail, dump: fail } as unknown as D1Database;
}

/** A KV binding whose every operation fails. */
export function failingKV(): KVNamespace {
  const fail = () => Promise.reject(new Error("KV GET failed: 503 Service Unavailable"));
  return { get: fail, getWithMetadata: fail, put: fail, delete: fail, list: fail } as unknown as KVNamespace;
}

/** A D1 binding that never answers (a hung connection). */
export function hangingD1(): D1Database {
  const never = () => new Promise(() => {});
  const statement = { bind: () => statement, first: never, all: never, run: never, raw: never };
  return { prepare: () => statement, batch: never, exec: never } as unknown as D1Database;
}

/**
 * The real D1 for reads, failing every write the way an unreachable primary does: what a
 * request meets when D1 goes down between its reads and its write.
 */
export function d1RefusingWrites(binding: D1Database = env.DB): D1Database {
  const refuse = () => Promise.reject(new Error("D1_ERROR: Network connection lost."));
  const isWrite = (query: string) => /^\s*(insert|update|delete|replace)/i.test(query);
  const wrap = (inner: D1PreparedStatement, write: boolean): D1PreparedStatement =>
    ({
      inner,
      bind: (...values: unknown[]) => wrap(inner.bind(...values), write),
      first: (column?: string) => (write ? refuse() : column ? inner.first(column) : inner.first()),
      all: () => (write ? refuse() : inner.all()),
      run: () => (write ? refuse() : inner.run()),
      raw: (options?: { columnNames?: boolean }) => (write ? refuse() : inner.raw(options as { columnNames: false })),
    }) as unknown as D1PreparedStatement;
  return {
    prepare: (query: string) => wrap(binding.prepare(query), isWrite(query)),
    batch: refuse,
    exec: refuse,
  } as unknown as D1Database;
}

/** The real D1 for single statements, failing every batch: a write that fails at its atomic step. */
export function d1RefusingBatches(binding: D1Database = env.DB): D1Database {
  return {
    prepare: (query: string) => binding.prepare(query),
    batch: () => Promise.reject(new Error("D1_ERROR: Network connection lost.")),
    exec: (query: string) => binding.exec(query),
  } as unknown as D1Database;
}

/** Calls each binding method makes, counted outside the application's own instrumentation. */
export type BindingCounts = { d1: number; kvGet: number; kvPut: number; kvDelete: number };

export function countingD1(binding: D1Database, counts: BindingCounts): D1Database {
  const statement = (inner: D1PreparedStatement): D1PreparedStatement => {
    const counted = (run: () => Promise<unknown>) => {
      counts.d1++;
      return run();
    };
    return {
      inner,
      bind: (...values: unknown[]) => statement(inner.bind(...values)),
      first: (column?: string) => counted(() => (column ? inner.first(column) : inner.first())),
      all: () => counted(() => inner.all()),
      run: () => counted(() => inner.run()),
      raw: (options?: { columnNames?: boolean }) => counted(() => inner.raw(options as { columnNames: false })),
    } as unknown as D1PreparedStatement;
  };
  return {
    prepare: (query: string) => statement(binding.prepare(query)),
    batch: (statements: (D1PreparedStatement & { inner?: D1PreparedStatement })[]) => {
      counts.d1 += statements.length;
      return binding.batch(statements.map((s) => s.inner ?? s));
    },
    exec: (query: string) => binding.exec(query),
  } as unknown as D1Database;
}

export function countingKV(binding: KVNamespace, counts: BindingCounts): KVNamespace {
  return {
    get: (key: string, type?: unknown) => {
      counts.kvGet++;
      return binding.get(key, type as "text");
    },
    put: (key: string, value: string, options?: KVNamespacePutOptions) => {
      counts.kvPut++;
      return binding.put(key, value, options);
    },
    delete: (key: string) => {
      counts.kvDelete++;
      return binding.delete(key);
    },
  } as unknown as KVNamespace;
}
