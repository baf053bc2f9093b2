import { env } from "cloudflare:workers";
import { drizzle } from "drizzle-orm/d1";
import type { Db } from "../src/db/client";
import type { Backend } from "./suites/backend";

/** The workerd test database (local D1) as a backend for the shared suites. */
export const d1Backend: Backend = {
  name: "D1",
  db: (logger) => drizzle(env.DB, logger ? { logger } : {}) as unknown as Db,
  query: async (sql, ...args) =>
    (
      await env.DB.prepare(sql)
        .bind(...args)
        .all()
    ).results as never,
};
