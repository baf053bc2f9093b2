/**
 * npm run size: the size budget. Builds the Worker exactly as `wrangler deploy` would and fails if
 * the gzipped bundle is over the budget in bench/size-budget.json. Run by CI: a dependency that
 * doubles the bundle (and every cold start) is a decision to make on purpose, not by accident.
 */
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { withBuiltWorker } from "./lib/harness";

const budget = JSON.parse(readFileSync(new URL("./size-budget.json", import.meta.url), "utf8")) as {
  gzipBytes: number;
  measuredGzipBytes: number;
};
const bundle = await withBuiltWorker(async (scriptPath) => readFileSync(scriptPath));
const gzipBytes = gzipSync(bundle).length;
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

console.log(
  `bundle: ${kib(bundle.length)} raw, ${kib(gzipBytes)} gzipped; budget ${kib(budget.gzipBytes)} gzipped ` +
    `(${((100 * gzipBytes) / budget.gzipBytes).toFixed(1)}% used; ` +
    `${(gzipBytes - budget.measuredGzipBytes).toLocaleString("en-US", { signDisplay: "always" })} bytes ` +
    "since the budget was set)",
);
if (gzipBytes > budget.gzipBytes) {
  console.error(
    `Over the size budget by ${kib(gzipBytes - budget.gzipBytes)}. Trim the bundle, or raise ` +
      "bench/size-budget.json in this change and say why.",
  );
  process.exitCode = 1;
}
