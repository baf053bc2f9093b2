/**
 * npm run bench:profile [-- <path>]: where a request's CPU goes inside the Worker. Runs the
 * deployable bundle in local workerd, drives one path (default: a cached public profile) with
 * autocannon while V8's sampling profiler watches the Worker's isolate through workerd's DevTools
 * inspector, and prints the functions that cost most per request, by self and by inclusive time.
 * The full profile is written as a .cpuprofile file (open it in Chrome DevTools' Performance tab).
 *
 * Throughput on this shared machine swings by tens of percent between runs; a profile's split of
 * one run's time does not, which makes it the tool for deciding what to make cheaper.
 */
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runAutocannon, seedPopulation } from "./lib/client";
import { ENTRIES, startWorkers, withBuiltWorker } from "./lib/harness";

const INSPECTOR_PORT = 9231;
const REQUESTS = 6000;
const SAMPLING_INTERVAL_US = 50;

type CallFrame = { functionName: string; url: string; lineNumber: number };
type ProfileNode = { id: number; callFrame: CallFrame; children?: number[] };
type CpuProfile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };

await withBuiltWorker(profileWorker, ENTRIES.d1, { minify: false });

async function profileWorker(scriptPath: string) {
  const { mf, url, hosts } = await startWorkers(scriptPath, { withoutLimits: true, inspectorPort: INSPECTOR_PORT });
  try {
    const [member] = await seedPopulation(
      { url, host: hosts.app },
      { size: 1, domain: "bench.test", password: "profile passphrase" },
    );
    const path = process.argv[2] ?? `/api/users/${member?.id}`;
    const load = () =>
      runAutocannon({
        url: new URL(path, url).toString(),
        connections: 10,
        amount: REQUESTS,
        headers: { host: hosts.app },
      });

    await load(); // warm-up: JIT, caches
    const inspector = await connect("core:user:app");
    await inspector.send("Profiler.enable");
    await inspector.send("Profiler.setSamplingInterval", { interval: SAMPLING_INTERVAL_US });
    await inspector.send("Profiler.start");
    await load();
    const { profile } = (await inspector.send("Profiler.stop")) as { profile: CpuProfile };
    inspector.close();

    const file = join(tmpdir(), "edge-users.cpuprofile");
    writeFileSync(file, JSON.stringify(profile));
    report(profile, path, file);
  } finally {
    await mf.dispose();
  }
}

// A DevTools protocol session with one Worker's isolate, found by its inspector title.
async function connect(worker: string) {
  const targets = (await (await fetch(`http://127.0.0.1:${INSPECTOR_PORT}/json/list`)).json()) as {
    title: string;
    webSocketDebuggerUrl: string;
  }[];
  const target = targets.find((t) => t.title.endsWith(worker));
  if (!target) throw new Error(`No inspector target for ${worker}`);
  const socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve);
    socket.addEventListener("error", reject);
  });
  const pending = new Map<number, (result: unknown) => void>();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) pending.get(message.id)?.(message.result);
  });
  let sequence = 0;
  return {
    send: (method: string, params: object = {}) =>
      new Promise<unknown>((resolve) => {
        const id = ++sequence;
        pending.set(id, resolve);
        socket.send(JSON.stringify({ id, method, params }));
      }),
    close: () => socket.close(),
  };
}

function report(profile: CpuProfile, path: string, file: string) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const label = ({ callFrame: { functionName, url, lineNumber } }: ProfileNode) =>
    url ? `${functionName || "(anonymous)"} (bundle line ${lineNumber + 1})` : functionName;

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busyUs = 0;
  profile.samples.forEach((sampled, i) => {
    const node = nodes.get(sampled);
    const us = profile.timeDeltas[i] ?? 0;
    if (!node || node.callFrame.functionName === "(idle)") return;
    busyUs += us;
    self.set(label(node), (self.get(label(node)) ?? 0) + us);
    const seen = new Set<string>(); // recursion counts once
    for (let at: ProfileNode | undefined = node; at; at = nodes.get(parents.get(at.id) ?? -1)) {
      if (seen.has(label(at)) || at.callFrame.functionName === "(root)") continue;
      seen.add(label(at));
      inclusive.set(label(at), (inclusive.get(label(at)) ?? 0) + us);
    }
  });

  const perRequest = (us: number) => `${(us / 1000 / REQUESTS).toFixed(3)} ms`;
  const table = (costs: Map<string, number>) =>
    [...costs]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 25)
      .map(([name, us]) => ({ "per request": perRequest(us), share: `${((100 * us) / busyUs).toFixed(1)}%`, name }));
  console.log(`GET ${path}: ${perRequest(busyUs)} of isolate CPU per request (${REQUESTS} requests sampled)`);
  console.log("\nSelf time (the function's own code)");
  console.table(table(self));
  console.log("\nInclusive time (with what it calls)");
  console.table(table(inclusive));
  console.log(`\nFull profile: ${file}`);
}
