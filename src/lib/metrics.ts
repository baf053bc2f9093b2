export type CacheOutcome = "hit-memory" | "hit-kv" | "miss";

const severity: Record<CacheOutcome, number> = { "hit-memory": 0, "hit-kv": 1, miss: 2 };

/**
 * What one request cost, filled in by the instrumented bindings and the cache, reported in
 * Server-Timing. Counting at the bindings is what makes "a memory hit does no I/O" checkable.
 */
export class RequestMetrics {
  /** The deepest tier any cached read of this request reached; undefined if none was cached. */
  cache: CacheOutcome | undefined;
  dbQueries = 0;
  dbMs = 0;
  kvOperations = 0;
  kvMs = 0;
  /** Checks that could not run and let the request through (failing open), as analytics events. */
  failedOpen: string[] | undefined;

  recordCache(outcome: CacheOutcome): void {
    if (this.cache === undefined || severity[outcome] > severity[this.cache]) this.cache = outcome;
  }

  recordFailOpen(event: string): void {
    this.failedOpen ??= [];
    this.failedOpen.push(event);
  }

  async timeDb<T>(queries: number, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await run();
    } finally {
      this.dbQueries += queries;
      this.dbMs += performance.now() - started;
    }
  }

  async timeKv<T>(run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await run();
    } finally {
      this.kvOperations += 1;
      this.kvMs += performance.now() - started;
    }
  }
}
