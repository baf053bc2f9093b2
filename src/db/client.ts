import type { BatchItem } from "drizzle-orm/batch";
import type { BaseSQLiteDatabase } from "drizzle-orm/sqlite-core";
import { DatabaseError } from "./errors";

/**
 * The database handle repositories are written against: Drizzle's async SQLite database, which
 * both Drizzle over D1 (src/db/d1.ts) and Drizzle over libSQL (src/db/libsql.ts) are. Repositories
 * never know which one they have; the two places the drivers differ go through the seams below.
 */
export type Db = BaseSQLiteDatabase<"async", unknown>;

/**
 * Runs statements as one atomic unit: a D1 batch (a transaction) or a libSQL batch (a
 * transaction too). All the statements happen, or none does.
 */
export async function runBatch(db: Db, statements: BatchItem<"sqlite">[]): Promise<unknown[]> {
  const batching = db as unknown as { batch(items: BatchItem<"sqlite">[]): Promise<unknown[]> };
  try {
    return await batching.batch(statements);
  } catch (error) {
    // Drizzle passes batch errors through unwrapped; mark them as the database's.
    throw error instanceof DatabaseError ? error : new DatabaseError(error);
  }
}

/** How many rows a write changed: D1 reports `meta.changes`, libSQL `rowsAffected`. */
export function changedRows(result: unknown): number {
  const { meta, rowsAffected } = result as { meta?: { changes?: number }; rowsAffected?: number };
  return meta?.changes ?? rowsAffected ?? 0;
}
