/**
 * The README's table of a bench run, as Markdown: bench/results/bench.md is written from it, so
 * the README is a copy of what the run measured, never a retyping of it.
 */
import type { ChartRow } from "./chart";
import type { Measurement } from "./measure";
import type { Startup } from "./startup";

/** A measured scenario with its ratios; `vsExpress` is null where Express has no counterpart. */
export type Row = Measurement & { group: ChartRow["group"]; vsHelloWorld: number; vsExpress: number | null };

export function markdownTable(rows: Row[]): string {
  const count = (value: number | null) => (value === null ? "–" : String(value));
  const ms = (value: number) => `${value} ms`;
  const lines = rows.map((r) =>
    [
      r.scenario,
      r.requestsPerSecond.toLocaleString("en-US"),
      ms(r.p50Ms),
      `${ms(r.p99Ms)} (${r.p99RangeMs[0]}–${r.p99RangeMs[1]})`,
      ms(r.serverCpuMsPerRequest),
      ms(r.loadGeneratorCpuMsPerRequest),
      count(r.dbQueriesPerRequest),
      count(r.kvOperationsPerRequest),
      r.bytesPerResponse.toLocaleString("en-US"),
      r.vsHelloWorld.toFixed(2),
      r.vsExpress === null ? "" : r.vsExpress.toFixed(2),
      String(r.errors),
    ].join(" | "),
  );
  return [
    "| scenario | req/s | p50 | p99 (range of rounds) | server CPU/req | load-gen CPU/req | D1/req | KV/req | bytes/resp | vs hello | vs Express | errors |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...lines.map((line) => `| ${line} |`),
    "",
  ].join("\n");
}

/** Start-up of the app beside the hello-world Worker's, as Markdown (medians of `runs`). */
export function startupTable({ app, hello, runs }: Startup): string {
  const ms = (value: number) => `${value.toLocaleString("en-US")} ms`;
  const row = (name: string, s: Startup["app"]) =>
    `| ${name} | ${ms(s.evaluationCpuMs)} | ${ms(s.readyCpuMs)} | ${ms(s.firstRequestCpuMs)} | ${ms(s.readyCpuMs + s.firstRequestCpuMs)} | ${ms(s.firstAnswerMs)} |`;
  return [
    `| start-up (median of ${runs}) | module evaluation, bare V8 (CPU) | workerd to ready (CPU) | first request (CPU) | workerd to first answer (CPU) | to first answer (wall) |`,
    "|---|---:|---:|---:|---:|---:|",
    row("hello-world Worker", hello),
    row("edge-users (D1 build)", app),
    "",
  ].join("\n");
}
