import type { DrizzleD1Database } from "drizzle-orm/d1";

/**
 * The database handle repositories are written against. Today it is Drizzle over D1; the type is
 * the seam where a libSQL client can come in without repositories knowing.
 */
export type Db = DrizzleD1Database;
