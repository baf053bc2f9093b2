/**
 * npm run analytics [-- --hours 24] [--query latency-by-route] [--print-sql]
 *
 * Asks Workers Analytics Engine how edge-users is doing: request rate, error rate, latency by
 * route, cache hit ratio, failed sign-ins and where they come from. Needs CLOUDFLARE_ACCOUNT_ID
 * and CLOUDFLARE_API_TOKEN (a token with Account Analytics: Read).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { runReport } from "./lib/analytics";
import { analyticsQueries } from "./lib/analytics-queries";

const { values } = parseArgs({
  options: {
    hours: { type: "string", default: "1" },
    query: { type: "string" },
    "print-sql": { type: "boolean", default: false },
  },
  strict: true,
});

const dataset = /dataset = "(\w+)"/.exec(readFileSync("wrangler.toml", "utf8"))?.[1] ?? "edge_users";
const window = { hours: Number(values.hours) };

if (values["print-sql"]) {
  for (const query of analyticsQueries(dataset, window)) console.log(`-- ${query.title}\n${query.sql};\n`);
  process.exit(0);
}

const accountId = process.env.CLOUDFLARE_ACCOUNT_ID;
const apiToken = process.env.CLOUDFLARE_API_TOKEN;
if (!accountId || !apiToken) {
  console.error("analytics: set CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN (Account Analytics: Read).");
  process.exit(1);
}

try {
  console.log(await runReport({ dataset, window, only: values.query, accountId, apiToken, fetch }));
} catch (error) {
  console.error(`analytics: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
