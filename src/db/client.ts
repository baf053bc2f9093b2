import type { BatchItem } from "drizzle-orm/batch";
import type { BaseSQLiteDatabase } from "drizzle-orm/sqlite-core";
import { DatabaseError, guardRefusalIn } from "./errors";

/**
 * The database handle repositories are written against: Drizzle's async SQLite database, which
 * both Drizzle over D1 (src/db/d1.ts) and Drizzle over libSQL (src/db/libsql.ts) are. Repositories
 * never know which one they have; the two places the drivers differ go through the seams below.
 */
export type Db = BaseSQLiteDatabase<"async", unknown>;

/**
 * A statement that must commit together with the next write of this request, whatever that write
 * is: a cross-cutting record such as an Idempotency-Key's stored response. It is made from the
 * result the write declares (the row it creates), so it can record what the write will answer.
 */
export type Companion = (result: unknown) => BatchItem<"sqlite">;

// Keyed by the request's handle, so companions never cross from one request to another.
const companions = new WeakMap<Db, Companion[]>();

/** Joins `companion` to the next batch run on this handle (see runBatch). */
export function joinNextWrite(db: Db, companion: Companion): void {
  companions.set(db, [...(companions.get(db) ?? []), companion]);
}

/** Drops companions no write took (the write failed, or was refused before it ran). */
export function dropPendingCompanions(db: Db): void {
  companions.delete(db);
}

/**
 * Runs statements as one atomic unit: a D1 batch (a transaction) or a libSQL batch (a
 * transaction too). All the statements happen, or none does. `result`, what the write will
 * return, is handed to the companions joined to this write, whose statements run last in the batch.
 */
export async function runBatch(db: Db, statements: BatchItem<"sqlite">[], result?: unknown): Promise<unknown[]> {
  const joined = companions.get(db) ?? [];
  companions.delete(db);
  const batching = db as unknown as { batch(items: BatchItem<"sqlite">[]): Promise<unknown[]> };
  try {
    return await batching.batch([...statements, ...joined.map((companion) => companion(result))]);
  } catch (error) {
    // A write guard that refused (src/db/guards.ts) is the caller's answer, not a database failure.
    const refusal = guardRefusalIn(error);
    if (refusal) throw refusal;
    // Drizzle passes batch errors through unwrapped; mark them as the database's.
    throw error instanceof DatabaseError ? error : new DatabaseError(error);
  }
}

/** How many rows a write changed: D1 reports `meta.changes`, libSQL `rowsAffected`. */
export function changedRows(result: unknown): number {
  const { meta, rowsAffected } = result as { meta?: { changes?: number }; rowsAffected?: number };
  return meta?.changes ?? rowsAffected ?? 0;
}
