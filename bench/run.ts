/**
 * npm run bench: how fast edge-users is, in one run on this machine. The Worker is built as
 * `wrangler deploy` builds it and run in local workerd beside (a) a bare hello-world Worker, the
 * ceiling for any Worker here, and (b) the usual alternative, Express with better-sqlite3. Prints a
 * table; writes bench/results/bench.json and bench/results/bench.svg.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { gzipSync } from "node:zlib";
import { type ChartRow, throughputChart } from "./lib/chart";
import { descendants } from "./lib/cpu";
import { buildWorker, startWorkers } from "./lib/harness";
import { type Measurement, measureAll, ROUNDS, type Scenario } from "./lib/measure";

const PASSWORD = "benchmark passphrase";
const POPULATION = 20;
const json = { "content-type": "application/json" };

// 1. The bundle as deployed, and how long workerd takes to answer its first request.
const scriptPath = buildWorker();
const bundle = readFileSync(scriptPath);
const startups: number[] = [];
for (let i = 0; i < 3; i++) {
  const { mf, startupMs } = await startWorkers(scriptPath, { withoutLimits: true });
  startups.push(startupMs);
  await mf.dispose();
}

// 2. The Worker, the ceiling and the peer, side by side.
const peer = await startPeer();
process.once("exit", () => peer.process.kill());
const { mf, url, hosts } = await startWorkers(scriptPath, { withoutLimits: true });
const workerd = () => descendants("workerd");

try {
  const call = async (base: URL, method: string, path: string, host: string, body?: unknown, token?: string) => {
    const res = await fetch(new URL(path, base), {
      method,
      headers: { host, ...json, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return (await res.json()) as Record<string, string>;
  };
  const people: { id: string; email: string; token: string }[] = [];
  for (let i = 0; i < POPULATION; i++) {
    const email = `reader${i}@bench.test`;
    const user = await call(url, "POST", "/api/users", hosts.app, {
      email,
      username: `reader${i}`,
      name: `Reader ${i}`,
      password: PASSWORD,
    });
    const { token } = await call(url, "POST", "/api/auth/login", hosts.app, { email, password: PASSWORD });
    people.push({ id: user.id as string, email, token: token as string });
  }
  const db = await mf.getD1Database("DB", "app");
  await db.prepare("update users set role = 'admin' where email = ?").bind("reader0@bench.test").run();
  const adminToken = people[0]?.token as string;
  const peerIds: string[] = [];
  for (let i = 0; i < POPULATION; i++) {
    const user = await call(peer.url, "POST", "/api/users", "peer", {
      email: `p${i}@bench.test`,
      username: `p${i}`,
      name: `Peer ${i}`,
      password: PASSWORD,
    });
    peerIds.push(user.id as string);
  }

  const who = (n: number) => people[n % POPULATION] as (typeof people)[number];
  const app = (path: string, extra: Record<string, string> = {}) => ({ path, headers: { host: hosts.app, ...extra } });
  const reads = { requests: 4000, warmup: 500, serverPids: workerd };
  const slow = { requests: 300, warmup: 30, serverPids: workerd };
  const scenarios: (Scenario & { group: ChartRow["group"] })[] = [
    {
      group: "ceiling",
      name: "hello-world Worker (ceiling)",
      ...reads,
      request: () => ({ path: "/", headers: { host: hosts.hello } }),
    },
    { group: "read", name: "public profile, cached", ...reads, request: (n) => app(`/api/users/${who(n).id}`) },
    {
      group: "read",
      name: "public profile, uncached (D1)",
      ...reads,
      request: (n) => ({ path: `/api/users/${who(n).id}`, headers: { host: hosts.nocache } }),
    },
    {
      group: "read",
      name: "GET /api/auth/me",
      ...reads,
      request: (n) => app("/api/auth/me", { authorization: `Bearer ${who(n).token}` }),
    },
    {
      group: "read",
      name: "admin list, 20 users",
      ...reads,
      requests: 2000,
      request: () => app("/api/users?limit=20", { authorization: `Bearer ${adminToken}` }),
    },
    {
      group: "write",
      name: "create user",
      ...slow,
      request: (n) => ({
        method: "POST",
        ...app("/api/users", json),
        body: JSON.stringify({ email: `new${n}@bench.test`, username: `new${n}`, name: "New", password: PASSWORD }),
      }),
    },
    {
      group: "write",
      name: "login",
      ...slow,
      request: (n) => ({
        method: "POST",
        ...app("/api/auth/login", json),
        body: JSON.stringify({ email: who(n).email, password: PASSWORD }),
      }),
    },
    {
      group: "write",
      name: "mixed 90% reads / 10% writes",
      ...reads,
      requests: 3000,
      request: (n) =>
        n % 10 === 0
          ? {
              method: "PATCH",
              ...app(`/api/users/${who(n).id}`, { ...json, authorization: `Bearer ${who(n).token}` }),
              body: JSON.stringify({ name: `Reader ${n}` }),
            }
          : app(`/api/users/${who(n).id}`),
    },
    {
      group: "peer",
      name: "Express + better-sqlite3: profile read",
      ...reads,
      serverPids: () => [peer.pid],
      request: (n) => ({ path: `/api/users/${peerIds[n % POPULATION]}`, headers: {} }),
    },
    {
      group: "peer",
      name: "Express + better-sqlite3: create user",
      ...slow,
      serverPids: () => [peer.pid],
      request: (n) => ({
        method: "POST",
        path: "/api/users",
        headers: json,
        body: JSON.stringify({ email: `pnew${n}@bench.test`, username: `pnew${n}`, name: "New", password: PASSWORD }),
      }),
    },
  ];

  const measured = await measureAll(
    scenarios,
    (scenario) => (scenario.group === "peer" ? peer.url : url),
    (round) => process.stdout.write(`  round ${round} of ${ROUNDS} done\n`),
  );
  const results = scenarios.map((s, i) => ({ group: s.group, ...(measured[i] as Measurement) }));

  const by = (name: string) => results.find((r) => r.scenario === name) as Measurement;
  const ceiling = by("hello-world Worker (ceiling)").requestsPerSecond;
  const peerRead = by("Express + better-sqlite3: profile read").requestsPerSecond;
  const peerCreate = by("Express + better-sqlite3: create user").requestsPerSecond;
  const table = results.map((r) => ({
    ...r,
    vsHelloWorld: Number((r.requestsPerSecond / ceiling).toFixed(2)),
    vsExpress:
      r.group === "read"
        ? Number((r.requestsPerSecond / peerRead).toFixed(2))
        : r.scenario === "create user"
          ? Number((r.requestsPerSecond / peerCreate).toFixed(2))
          : null,
  }));

  const cached = by("public profile, cached");
  const uncached = by("public profile, uncached (D1)");
  const targets = {
    cachedReadVsHelloWorld: { target: ">= 0.80", measured: Number((cached.requestsPerSecond / ceiling).toFixed(2)) },
    dbQueriesOnCachedRead: { target: "0", measured: cached.dbQueriesPerRequest },
    dbQueriesOnUncachedRead: { target: "1", measured: uncached.dbQueriesPerRequest },
    cachedReadVsExpress: { target: "> 1.00", measured: Number((cached.requestsPerSecond / peerRead).toFixed(2)) },
  };
  const report = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, peerNode: peer.node },
    workerd: execFileSync("workerd", ["--version"], { encoding: "utf8" }).trim(),
    method: {
      connections: 10,
      rounds: ROUNDS,
      statistic: "median of rounds, rounds interleaved across scenarios",
      requestsPerRound: "4,000 reads (2,000 for the admin list, 3,000 mixed), 300 creates and logins, after a warm-up",
      rateLimits: "off (measured by npm run bench:load)",
      logLevel: "warn",
      cpu: "from /proc: workerd (or the peer) as server, this process as load generator",
    },
    bundle: { rawBytes: bundle.length, gzipBytes: gzipSync(bundle).length },
    startupMs: Math.round([...startups].sort((a, b) => a - b)[1] ?? 0),
    scenarios: table,
    targets,
  };

  console.table(
    table.map(({ group: _group, errors: _errors, ...row }) => ({
      ...row,
      scenario: row.scenario.length > 36 ? `${row.scenario.slice(0, 35)}…` : row.scenario,
    })),
  );
  console.log(
    `bundle ${report.bundle.rawBytes} bytes, ${report.bundle.gzipBytes} gzipped; start-up ${report.startupMs} ms`,
  );
  console.table(targets);
  writeFileSync(new URL("./results/bench.json", import.meta.url), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(
    new URL("./results/bench.svg", import.meta.url),
    throughputChart(
      table.map((r) => ({ name: r.scenario, requestsPerSecond: r.requestsPerSecond, group: r.group })),
      ceiling,
    ),
  );
  if (results.some((r) => r.errors > 0)) {
    console.error(
      `errors in: ${results
        .filter((r) => r.errors > 0)
        .map((r) => r.scenario)
        .join(", ")}`,
    );
    process.exitCode = 1;
  }
} finally {
  peer.process.kill();
  await mf.dispose();
}

/**
 * Starts the Express peer with the Node that npm installed better-sqlite3 for (the machine's own:
 * npm builds native addons against it, while the project's scripts run on its pinned Node 22).
 */
async function startPeer(): Promise<{ url: URL; pid: number; node: string; process: ChildProcess }> {
  const candidates = (process.env.PATH ?? "")
    .split(":")
    .filter((dir) => !dir.includes("node_modules"))
    .map((dir) => `${dir}/node`);
  const nodeBinary = [...candidates, process.execPath].find((path) => {
    try {
      execFileSync(path, ["-e", "require('better-sqlite3')"], { stdio: "ignore", cwd: process.cwd() });
      return true;
    } catch {
      return false;
    }
  });
  if (!nodeBinary) {
    throw new Error(
      "The Express peer needs better-sqlite3, an optional dependency whose native addon did not build " +
        "at npm install (it needs a prebuilt binary from the network, or a C++ toolchain). With either, " +
        "run `npm install` again.",
    );
  }
  const child = spawn(nodeBinary, ["bench/peer/express-sqlite.mjs", "0"], { stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout?.once("data", (chunk) => resolve(String(chunk)));
    child.once("exit", (code) => reject(new Error(`The Express peer exited (code ${code}) before it was ready.`)));
  });
  const [, port, node] = /ready (\d+) node (\S+)/.exec(line) ?? [];
  return { url: new URL(`http://127.0.0.1:${port}`), pid: child.pid ?? 0, node: node ?? "?", process: child };
}
