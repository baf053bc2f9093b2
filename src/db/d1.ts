import { drizzle } from "drizzle-orm/d1";
import type { Logger } from "drizzle-orm/logger";
import type { Db } from "./client";

export function createD1Database(binding: D1Database, logger?: Logger): Db {
  return drizzle(binding, logger ? { logger } : {}) as unknown as Db;
}
