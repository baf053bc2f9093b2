/**
 * npm run bench:cache — the edge cache against its ceiling, in one run of one local workerd:
 * a cached public profile read, an uncached read (CACHE_ENABLED=false), an authenticated
 * GET /api/auth/me, and a bare hello-world Worker. Prints a table, writes bench/results/cache.json.
 */
import { writeFileSync } from "node:fs";
import autocannon from "autocannon";
import { buildWorker, startWorkers } from "./lib/harness";

const CONNECTIONS = 10;
const WARMUP_REQUESTS = 500;
const REQUESTS = 5000;
const ROUNDS = 3;

type Scenario = { name: string; host: string; path: string; headers?: Record<string, string> };
type Round = { requestsPerSecond: number; p50Ms: number; p99Ms: number; non2xx: number };

function run(url: URL, scenario: Scenario, amount: number): Promise<Round> {
  const started = performance.now();
  let lastResponseAt = started;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: new URL(scenario.path, url).toString(),
        connections: CONNECTIONS,
        amount,
        headers: { host: scenario.host, ...scenario.headers },
      },
      (error, result) => {
        if (error) return reject(error);
        resolve({
          // Completed requests over the time to the last response, measured here: autocannon
          // finishes on a whole-second tick, which would round short runs.
          requestsPerSecond: result.requests.total / ((lastResponseAt - started) / 1000),
          p50Ms: result.latency.p50,
          p99Ms: result.latency.p99,
          non2xx: result.non2xx,
        });
      },
    );
    instance.on("response", () => {
      lastResponseAt = performance.now();
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

const scriptPath = buildWorker();
const { mf, url, hosts } = await startWorkers(scriptPath, { withoutApiLimiter: true });
try {
  const json = async (method: string, path: string, body?: unknown, token?: string) => {
    const res = await fetch(new URL(path, url), {
      method,
      headers: {
        host: hosts.app,
        ...(body ? { "content-type": "application/json" } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    return (await res.json()) as Record<string, string>;
  };
  const credentials = { email: "bench@example.com", password: "benchmark passphrase" };
  const user = await json("POST", "/api/users", { ...credentials, username: "bench", name: "Bench User" });
  const { token } = await json("POST", "/api/auth/login", credentials);

  const scenarios: Scenario[] = [
    { name: "hello-world Worker (ceiling)", host: hosts.hello, path: "/" },
    { name: "public profile, cached", host: hosts.app, path: `/api/users/${user.id}` },
    { name: "public profile, uncached (D1)", host: hosts.nocache, path: `/api/users/${user.id}` },
    {
      name: "GET /api/auth/me (session from KV)",
      host: hosts.app,
      path: "/api/auth/me",
      headers: { authorization: `Bearer ${token}` },
    },
  ];

  const results = [];
  for (const scenario of scenarios) {
    await run(url, scenario, WARMUP_REQUESTS);
    const rounds: Round[] = [];
    for (let i = 0; i < ROUNDS; i++) rounds.push(await run(url, scenario, REQUESTS));
    if (rounds.some((round) => round.non2xx > 0)) throw new Error(`${scenario.name}: non-2xx responses`);
    results.push({
      scenario: scenario.name,
      requestsPerSecond: Math.round(median(rounds.map((r) => r.requestsPerSecond))),
      p50Ms: median(rounds.map((r) => r.p50Ms)),
      p99Ms: median(rounds.map((r) => r.p99Ms)),
    });
  }
  const ceiling = results[0]?.requestsPerSecond ?? 1;
  const table = results.map((r) => ({ ...r, vsHelloWorld: Number((r.requestsPerSecond / ceiling).toFixed(2)) }));
  console.table(table);
  const report = {
    date: new Date().toISOString(),
    machine: { cpus: (await import("node:os")).cpus().length, node: process.version },
    method: {
      connections: CONNECTIONS,
      warmupRequests: WARMUP_REQUESTS,
      requests: REQUESTS,
      rounds: ROUNDS,
      statistic: "median of rounds",
    },
    results: table,
  };
  writeFileSync(new URL("./results/cache.json", import.meta.url), `${JSON.stringify(report, null, 2)}\n`);
} finally {
  await mf.dispose();
}
