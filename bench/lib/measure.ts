/**
 * Scenarios measured the same way every time: a warm-up, then rounds of a fixed number of requests
 * over a fixed number of connections; medians of the rounds. Rounds are interleaved across the
 * scenarios (round 1 of each, then round 2 of each, ...), so a slow minute of this shared machine
 * falls on every scenario alike instead of on whichever ran then. Alongside throughput and
 * latency: the server's and the load generator's CPU per request, the D1 queries and KV operations
 * per request (from Server-Timing, which the Worker counts at its bindings), and bytes per response.
 */
import type autocannon from "autocannon";
import { runAutocannon } from "./client";
import { cpuMsOf, ownCpuMs } from "./cpu";

export type Scenario = {
  name: string;
  /** Builds each request: path, method, headers, body. */
  request: (n: number) => { method?: string; path: string; headers?: Record<string, string>; body?: string };
  requests: number;
  warmup?: number;
  connections?: number;
  /** The processes serving this scenario, for CPU accounting. */
  serverPids: () => number[];
  /**
   * How long to wait after the last answer before reading the CPU counters: a write's work goes on
   * after its response (cache purges, the delayed re-purge), and belongs to this scenario's CPU,
   * not the next one's.
   */
  settleMs?: number;
};

export type Measurement = {
  scenario: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** The lowest and highest p99 of the rounds: how much the tail moves on this machine. */
  p99RangeMs: [number, number];
  serverCpuMsPerRequest: number;
  loadGeneratorCpuMsPerRequest: number;
  dbQueriesPerRequest: number | null;
  kvOperationsPerRequest: number | null;
  /** Requests, D1 queries and KV operations summed over the rounds (warm-up excluded), unrounded. */
  totals: { requests: number; dbQueries: number | null; kvOperations: number | null };
  bytesPerResponse: number;
  /** Answers other than 2xx and failed requests, warm-up included. */
  errors: number;
};

type RoundResult = Omit<Measurement, "scenario" | "p99RangeMs" | "totals"> & {
  requests: number;
  dbQueries: number | null;
  kvOperations: number | null;
};

export const ROUNDS = 5;

function serverTimingCount(header: string | undefined, name: string): number {
  const match = new RegExp(`${name};[^,]*desc="(\\d+) `).exec(header ?? "");
  return match ? Number(match[1]) : 0;
}

async function measureRound(url: URL, scenario: Scenario, amount: number, offset: number): Promise<RoundResult> {
  const pids = scenario.serverPids();
  const [serverBefore, ownBefore, started] = [cpuMsOf(pids), ownCpuMs(), performance.now()];
  let lastResponseAt = started;
  let sequence = offset;
  let db = 0;
  let kv = 0;
  let sawServerTiming = false;
  const result = await runAutocannon({
    url: url.toString(),
    connections: scenario.connections ?? 10,
    amount,
    requests: [
      {
        setupRequest: (request) => {
          const next = scenario.request(sequence++);
          return {
            ...request,
            method: next.method ?? "GET",
            path: next.path,
            headers: next.headers ?? {},
            body: next.body,
          } as autocannon.Request;
        },
        onResponse: (_status, _body, _context, headers) => {
          lastResponseAt = performance.now();
          // autocannon keeps the server's header case.
          const timing = Object.entries(headers ?? {}).find(([key]) => key.toLowerCase() === "server-timing")?.[1];
          if (timing !== undefined) sawServerTiming = true;
          db += serverTimingCount(String(timing ?? ""), "db");
          kv += serverTimingCount(String(timing ?? ""), "kv");
        },
      },
    ],
  });
  // Throughput ends at the last answer; CPU goes on being counted until the work after it is done.
  const seconds = (lastResponseAt - started) / 1000;
  if (scenario.settleMs) await new Promise((resolve) => setTimeout(resolve, scenario.settleMs));
  const total = result.requests.total;
  return {
    requestsPerSecond: total / seconds,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    serverCpuMsPerRequest: (cpuMsOf(pids) - serverBefore) / total,
    loadGeneratorCpuMsPerRequest: (ownCpuMs() - ownBefore) / total,
    dbQueriesPerRequest: sawServerTiming ? db / total : null,
    kvOperationsPerRequest: sawServerTiming ? kv / total : null,
    requests: total,
    dbQueries: sawServerTiming ? db : null,
    kvOperations: sawServerTiming ? kv : null,
    bytesPerResponse: result.throughput.total / total,
    errors: result.errors + result.non2xx,
  };
}

export function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
}

/** `base` is where a scenario's requests go; `onRound` hears of progress. */
export async function measureAll<S extends Scenario>(
  scenarios: S[],
  base: (scenario: S) => URL,
  onRound: (round: number) => void = () => {},
): Promise<Measurement[]> {
  const offsets = scenarios.map(() => 0);
  const warmupErrors = scenarios.map(() => 0);
  const rounds: RoundResult[][] = scenarios.map(() => []);
  for (const [i, scenario] of scenarios.entries()) {
    if (!scenario.warmup) continue;
    warmupErrors[i] = (await measureRound(base(scenario), scenario, scenario.warmup, 0)).errors;
    offsets[i] = scenario.warmup;
  }
  for (let r = 1; r <= ROUNDS; r++) {
    for (const [i, scenario] of scenarios.entries()) {
      rounds[i]?.push(await measureRound(base(scenario), scenario, scenario.requests, offsets[i] ?? 0));
      offsets[i] = (offsets[i] ?? 0) + scenario.requests;
    }
    onRound(r);
  }
  return scenarios.map((scenario, i) => summarize(scenario, rounds[i] ?? [], warmupErrors[i] ?? 0));
}

function summarize(scenario: Scenario, rounds: RoundResult[], warmupErrors: number): Measurement {
  const medianOf = (key: keyof RoundResult) => {
    const values = rounds.map((r) => r[key]);
    return values.includes(null) ? null : median(values as number[]);
  };
  const toHundredths = (value: number | null) => (value === null ? null : Math.round(value * 100) / 100);
  const p99s = rounds.map((r) => r.p99Ms);
  const sum = (key: "requests" | "dbQueries" | "kvOperations") => {
    const values = rounds.map((r) => r[key]);
    return values.includes(null) ? null : (values as number[]).reduce((a, b) => a + b, 0);
  };
  return {
    scenario: scenario.name,
    requestsPerSecond: Math.round(medianOf("requestsPerSecond") ?? 0),
    p50Ms: medianOf("p50Ms") ?? 0,
    p99Ms: medianOf("p99Ms") ?? 0,
    p99RangeMs: [Math.min(...p99s), Math.max(...p99s)],
    serverCpuMsPerRequest: toHundredths(medianOf("serverCpuMsPerRequest")) ?? 0,
    loadGeneratorCpuMsPerRequest: toHundredths(medianOf("loadGeneratorCpuMsPerRequest")) ?? 0,
    dbQueriesPerRequest: toHundredths(medianOf("dbQueriesPerRequest")),
    kvOperationsPerRequest: toHundredths(medianOf("kvOperationsPerRequest")),
    bytesPerResponse: Math.round(medianOf("bytesPerResponse") ?? 0),
    totals: { requests: sum("requests") ?? 0, dbQueries: sum("dbQueries"), kvOperations: sum("kvOperations") },
    errors: warmupErrors + rounds.reduce((sum, r) => sum + r.errors, 0),
  };
}
