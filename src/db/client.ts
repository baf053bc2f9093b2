import { type SQL, sql } from "drizzle-orm";
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
 * is: a cross-cutting record such as an Idempotency-Key's stored response or an audit event. It is
 * made from the result the write declares (the row it creates), so it can record what the write
 * will answer, and, for a companion that joins `ifLanded`, from `landed`: the condition (for its
 * WHERE) that the write's deciding statement changed a row; undefined when the write has no such
 * statement, so the batch succeeding is the write landing.
 */
export type Companion = (result: unknown, landed: SQL | undefined) => BatchItem<"sqlite">;

type Joined = { companion: Companion; ifLanded: boolean };

// Keyed by the request's handle, so companions never cross from one request to another.
const companions = new WeakMap<Db, Joined[]>();

/**
 * Joins `companion` to the next batch run on this handle (see runBatch). `ifLanded`: it takes
 * effect only if the write lands (its deciding statement changes a row), not merely if the batch
 * commits; such a companion must then change at least one row itself (an insert of one row), as
 * the next one's condition reads its count.
 */
export function joinNextWrite(db: Db, companion: Companion, { ifLanded = false }: { ifLanded?: boolean } = {}): void {
  companions.set(db, [...(companions.get(db) ?? []), { companion, ifLanded }]);
}

/** Drops companions no write took (the write failed, or was refused before it ran). */
export function dropPendingCompanions(db: Db): void {
  companions.delete(db);
}

export type BatchOptions = {
  /** What the write will return, handed to the companions joined to it. */
  result?: unknown;
  /**
   * The statement whose changed rows say whether the write landed (an update or delete under the
   * write's conditions). Companions joined `ifLanded` run right after it, under `changes() > 0`.
   */
  landing?: BatchItem<"sqlite">;
};

/**
 * Runs statements as one atomic unit: a D1 batch (a transaction) or a libSQL batch (a
 * transaction too). All the statements happen, or none does. The companions joined to this write
 * run in the same batch: `ifLanded` ones right after `landing` (or last, without one), the others
 * last. Returns the results of `statements`, in their order.
 */
export async function runBatch(
  db: Db,
  statements: BatchItem<"sqlite">[],
  { result, landing }: BatchOptions = {},
): Promise<unknown[]> {
  const joined = companions.get(db) ?? [];
  companions.delete(db);
  const at = landing ? statements.indexOf(landing) : -1;
  if (landing && at < 0) throw new Error("runBatch: the landing statement is not among the statements");
  const landed = at >= 0 ? sql`changes() > 0` : undefined;
  const ifLanded = joined.filter((entry) => entry.ifLanded).map(({ companion }) => companion(result, landed));
  const last = joined.filter((entry) => !entry.ifLanded).map(({ companion }) => companion(result, undefined));
  const split = at >= 0 ? at + 1 : statements.length;
  const items = [...statements.slice(0, split), ...ifLanded, ...statements.slice(split), ...last];
  const batching = db as unknown as { batch(items: BatchItem<"sqlite">[]): Promise<unknown[]> };
  let results: unknown[];
  try {
    results = await batching.batch(items);
  } catch (error) {
    // A write guard that refused (src/db/guards.ts) is the caller's answer, not a database failure.
    const refusal = guardRefusalIn(error);
    if (refusal) throw refusal;
    // Drizzle passes batch errors through unwrapped; mark them as the database's.
    throw error instanceof DatabaseError ? error : new DatabaseError(error);
  }
  const own = results.slice(0, split);
  return own.concat(results.slice(split + ifLanded.length, ifLanded.length + statements.length));
}

/** How many rows a write changed: D1 reports `meta.changes`, libSQL `rowsAffected`. */
export function changedRows(result: unknown): number {
  const { meta, rowsAffected } = result as { meta?: { changes?: number }; rowsAffected?: number };
  return meta?.changes ?? rowsAffected ?? 0;
}
