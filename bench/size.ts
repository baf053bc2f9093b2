/**
 * npm run size: the size budget. Builds each entry point exactly as `wrangler deploy` would and
 * fails if a gzipped bundle is over its budget in bench/size-budget.json. Run by CI: a dependency
 * that doubles the bundle (and every cold start: each new isolate parses all of it) is a decision
 * to make on purpose, not by accident.
 */
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { ENTRIES, withBuiltWorker } from "./lib/harness";

type Budget = { gzipBytes: number; measuredGzipBytes: number };
const budgets = JSON.parse(readFileSync(new URL("./size-budget.json", import.meta.url), "utf8")) as Record<
  keyof typeof ENTRIES,
  Budget
>;
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

for (const [build, entry] of Object.entries(ENTRIES) as [keyof typeof ENTRIES, string][]) {
  const budget = budgets[build];
  const bundle = await withBuiltWorker(async (scriptPath) => readFileSync(scriptPath), entry);
  const gzipBytes = gzipSync(bundle).length;
  console.log(
    `${build} build (${entry}): ${kib(bundle.length)} raw, ${kib(gzipBytes)} gzipped; budget ${kib(budget.gzipBytes)} ` +
      `(${((100 * gzipBytes) / budget.gzipBytes).toFixed(1)}% used; ` +
      `${(gzipBytes - budget.measuredGzipBytes).toLocaleString("en-US", { signDisplay: "always" })} bytes ` +
      "since the budget was set)",
  );
  if (gzipBytes > budget.gzipBytes) {
    console.error(
      `The ${build} build is over its size budget by ${kib(gzipBytes - budget.gzipBytes)}. Trim the bundle, or ` +
        "raise bench/size-budget.json in this change and say why.",
    );
    process.exitCode = 1;
  }
}
