/**
 * npm run analytics [-- --hours 24] [--query latency-by-route] [--print-sql] [--help]
 *
 * Asks Workers Analytics Engine how edge-users is doing: request rate, error rate, latency by
 * route, cache hit ratio, failed sign-ins and where they come from. Needs CLOUDFLARE_ACCOUNT_ID
 * and CLOUDFLARE_API_TOKEN (a token with Account Analytics: Read).
 */
import { readFileSync } from "node:fs";
import { runReport } from "./lib/analytics";
import { analyticsQueries } from "./lib/analytics-queries";
import { parseOptions } from "./lib/cli";

const dataset = /dataset = "(\w+)"/.exec(readFileSync("wrangler.toml", "utf8"))?.[1] ?? "edge_users";
const names = analyticsQueries(dataset, { hours: 1 }).map((query) => query.name);

const USAGE = `Usage: npm run analytics [-- --hours <1..2160>] [--query <name>] [--print-sql]

Asks Workers Analytics Engine (dataset ${dataset}) how edge-users is doing. Needs
CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN (a token with Account Analytics: Read);
--print-sql needs neither and prints the SQL to run elsewhere.

  --hours <n>      the window, in hours (default 1)
  --query <name>   one report: ${names.join(", ")}
  --print-sql      print the queries instead of running them (offline)
  -h, --help       this help`;

const values = parseOptions("analytics", USAGE, {
  hours: { type: "string", default: "1" },
  query: { type: "string" },
  "print-sql": { type: "boolean", default: false },
});

function fail(message: string, code = 1): never {
  console.error(`analytics: ${message}`);
  process.exit(code);
}

const window = { hours: Number(values.hours) };
if (!Number.isInteger(window.hours) || window.hours < 1 || window.hours > 24 * 90) {
  fail(`--hours must be a whole number of hours from 1 to 2160 (90 days), not ${values.hours}`, 2);
}
if (values.query !== undefined && !names.includes(values.query)) {
  fail(`no query named ${values.query}; the queries: ${names.join(", ")}`, 2);
}

if (values["print-sql"]) {
  for (const query of analyticsQueries(dataset, window)) {
    if (!values.query || query.name === values.query) console.log(`-- ${query.title}\n${query.sql};\n`);
  }
  process.exit(0);
}

const accountId = process.env.CLOUDFLARE_ACCOUNT_ID;
const apiToken = process.env.CLOUDFLARE_API_TOKEN;
if (!accountId || !apiToken) {
  fail(
    "set CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN (a token with Account Analytics: Read), or use --print-sql to print the queries without credentials.",
  );
}

try {
  console.log(await runReport({ dataset, window, only: values.query, accountId, apiToken, fetch }));
} catch (error) {
  fail(describe(error));
}

/** The message, and the cause a failed fetch hides behind "fetch failed" (DNS, TLS, refused). */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}`;
}
