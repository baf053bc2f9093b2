/**
 * Start-up, for the app and for the hello-world Worker, measured the same way side by side:
 *
 * - **Module evaluation in a bare V8**: a fresh Node process imports the built bundle and reports
 *   the CPU its import took (parse, compile, top-level evaluation). Node's own start is outside the
 *   measured span; `node:crypto`, the one module the bundle imports, is loaded first.
 * - **A fresh workerd to its first answer**: Miniflare starts workerd with that Worker alone (and
 *   the app's bindings for both); the CPU workerd has used when it is ready (its boot, the
 *   bindings' services and the Worker's evaluation), the CPU the first request adds, and the wall
 *   time from launch to the first answer. All but the Worker is the same for both, so the
 *   difference between them is the Worker's.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Miniflare } from "miniflare";
import { descendants } from "./cpu";
import { median } from "./measure";

export type StartupSample = {
  /** CPU of importing the bundle in a fresh Node process (parse, compile, evaluate). */
  evaluationCpuMs: number;
  /** workerd's CPU from its launch until it is ready to serve (boot + the Worker's evaluation). */
  readyCpuMs: number;
  /** The CPU workerd spends on the first request. */
  firstRequestCpuMs: number;
  /** From launching workerd to the first answer, wall time. */
  firstAnswerMs: number;
};

export type Startup = { app: StartupSample; hello: StartupSample; runs: number };

export const HELLO_WORLD_SOURCE = 'export default { fetch() { return new Response("hello") } }';

// CPU time of every thread of a process, in ms, from schedstat (nanoseconds, unlike stat's ticks).
function threadCpuMs(pid: number): number {
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]) / 1e6;
    } catch {
      // The thread ended between listing and reading.
    }
  }
  return total;
}

const workerdCpuMs = () => descendants("workerd").reduce((sum, pid) => sum + threadCpuMs(pid), 0);

/** CPU (ms) of importing a module in a fresh Node process. */
export function evaluationCpuMs(modulePath: string): number {
  const script = `import "node:crypto";
const before = process.cpuUsage();
await import(${JSON.stringify(modulePath)});
const used = process.cpuUsage(before);
process.stdout.write(String((used.user + used.system) / 1000));`;
  return Number(execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" }));
}

/** One fresh workerd with one Worker: CPU to ready, CPU of the first request, wall time to its answer. */
export async function firstAnswer(
  launch: () => Miniflare,
  path: string,
): Promise<Omit<StartupSample, "evaluationCpuMs">> {
  const before = workerdCpuMs();
  const launched = performance.now();
  const mf = launch();
  try {
    await mf.ready;
    const ready = workerdCpuMs();
    const res = await mf.dispatchFetch(`http://localhost${path}`);
    await res.arrayBuffer();
    const answered = performance.now();
    if (!res.ok) throw new Error(`GET ${path} answered ${res.status} at start-up`);
    return {
      readyCpuMs: ready - before,
      firstRequestCpuMs: workerdCpuMs() - ready,
      firstAnswerMs: answered - launched,
    };
  } finally {
    await mf.dispose();
  }
}

/** Median of each figure over samples. */
export function medianSample(samples: StartupSample[]): StartupSample {
  const of = (key: keyof StartupSample) => Math.round(median(samples.map((s) => s[key])) * 10) / 10;
  return {
    evaluationCpuMs: of("evaluationCpuMs"),
    readyCpuMs: of("readyCpuMs"),
    firstRequestCpuMs: of("firstRequestCpuMs"),
    firstAnswerMs: of("firstAnswerMs"),
  };
}

/** Writes the hello-world module beside the build, for the bare-V8 measurement. */
export function helloWorldModule(directory: string): string {
  const path = join(directory, "hello.mjs");
  writeFileSync(path, HELLO_WORLD_SOURCE);
  return path;
}
