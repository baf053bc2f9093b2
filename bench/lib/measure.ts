/**
 * Scenarios measured the same way every time: a warm-up, then rounds of a fixed number of requests
 * over a fixed number of connections; medians of the rounds. Rounds are interleaved across the
 * scenarios (round 1 of each, then round 2 of each, ...), so a slow minute of this shared machine
 * falls on every scenario alike instead of on whichever ran then. Alongside throughput and
 * latency: the server's and the load generator's CPU per request, the D1 queries and KV operations
 * per request (from Server-Timing, which the Worker counts at its bindings), and bytes per response.
 */
import autocannon from "autocannon";
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
};

export type Measurement = {
  scenario: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuMsPerRequest: number;
  loadGeneratorCpuMsPerRequest: number;
  dbQueriesPerRequest: number | null;
  kvOperationsPerRequest: number | null;
  bytesPerResponse: number;
  errors: number;
};

type Round = Omit<Measurement, "scenario">;

export const ROUNDS = 5;

function serverTimingCount(header: string | undefined, name: string): number {
  const match = new RegExp(`${name};[^,]*desc="(\\d+) `).exec(header ?? "");
  return match ? Number(match[1]) : 0;
}

async function round(url: URL, scenario: Scenario, amount: number, offset: number): Promise<Round> {
  const pids = scenario.serverPids();
  const [serverBefore, ownBefore, started] = [cpuMsOf(pids), ownCpuMs(), performance.now()];
  let lastResponseAt = started;
  let sequence = offset;
  let db = 0;
  let kv = 0;
  let sawServerTiming = false;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
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
              } as never;
            },
            onResponse: (_status, _body, _context, headers) => {
              const timing = Object.entries(headers ?? {}).find(([key]) => key.toLowerCase() === "server-timing")?.[1];
              if (timing !== undefined) sawServerTiming = true;
              db += serverTimingCount(String(timing ?? ""), "db");
              kv += serverTimingCount(String(timing ?? ""), "kv");
            },
          },
        ],
      },
      (error, finished) => (error ? reject(error) : resolve(finished)),
    );
    instance.on("response", () => {
      lastResponseAt = performance.now();
    });
  });
  const seconds = (lastResponseAt - started) / 1000;
  const total = result.requests.total;
  return {
    requestsPerSecond: total / seconds,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    serverCpuMsPerRequest: (cpuMsOf(pids) - serverBefore) / total,
    loadGeneratorCpuMsPerRequest: (ownCpuMs() - ownBefore) / total,
    dbQueriesPerRequest: sawServerTiming ? db / total : null,
    kvOperationsPerRequest: sawServerTiming ? kv / total : null,
    bytesPerResponse: result.throughput.total / total,
    errors: result.errors + result.non2xx,
  };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

/** `base` is where a scenario's requests go; `onRound` hears of progress. */
export async function measureAll<S extends Scenario>(
  scenarios: S[],
  base: (scenario: S) => URL,
  onRound: (round: number) => void = () => {},
): Promise<Measurement[]> {
  const offsets = scenarios.map(() => 0);
  const rounds: Round[][] = scenarios.map(() => []);
  for (const [i, scenario] of scenarios.entries()) {
    if (!scenario.warmup) continue;
    await round(base(scenario), scenario, scenario.warmup, 0);
    offsets[i] = scenario.warmup;
  }
  for (let r = 1; r <= ROUNDS; r++) {
    for (const [i, scenario] of scenarios.entries()) {
      rounds[i]?.push(await round(base(scenario), scenario, scenario.requests, offsets[i] ?? 0));
      offsets[i] = (offsets[i] ?? 0) + scenario.requests;
    }
    onRound(r);
  }
  return scenarios.map((scenario, i) => summarize(scenario, rounds[i] ?? []));
}

function summarize(scenario: Scenario, rounds: Round[]): Measurement {
  const pick = (key: keyof Round) => {
    const values = rounds.map((r) => r[key]);
    return values.includes(null) ? null : median(values as number[]);
  };
  const round2 = (value: number | null) => (value === null ? null : Math.round(value * 100) / 100);
  return {
    scenario: scenario.name,
    requestsPerSecond: Math.round(pick("requestsPerSecond") ?? 0),
    p50Ms: pick("p50Ms") ?? 0,
    p99Ms: pick("p99Ms") ?? 0,
    serverCpuMsPerRequest: round2(pick("serverCpuMsPerRequest")) ?? 0,
    loadGeneratorCpuMsPerRequest: round2(pick("loadGeneratorCpuMsPerRequest")) ?? 0,
    dbQueriesPerRequest: round2(pick("dbQueriesPerRequest")),
    kvOperationsPerRequest: round2(pick("kvOperationsPerRequest")),
    bytesPerResponse: Math.round(pick("bytesPerResponse") ?? 0),
    errors: rounds.reduce((sum, r) => sum + r.errors, 0),
  };
}
