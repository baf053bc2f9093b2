import { drizzle } from "drizzle-orm/d1";
import type { Db } from "./client";

export function createD1Database(binding: D1Database): Db {
  return drizzle(binding);
}
