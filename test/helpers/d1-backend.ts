import { env } from "cloudflare:workers";
import { createD1Database } from "../../src/db/d1";
import type { Backend } from "../suites/backend";

/** The workerd test database (local D1) as a backend for the shared suites. */
export const d1Backend: Backend = {
  name: "D1",
  db: (logger) => createD1Database(env.DB, logger),
  query: async (sql, ...args) =>
    (
      await env.DB.prepare(sql)
        .bind(...args)
        .all()
    ).results as never,
};
