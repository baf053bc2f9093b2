/**
 * The benchmark's own machinery, against a real local HTTP server: what it counts, what it refuses
 * to report, and the workload and table it builds. (`npm run bench` itself takes minutes and runs
 * by hand; these keep its numbers honest between runs.)
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { call, seedPopulation } from "../../bench/lib/client";
import { type Measurement, measureAll, ROUNDS } from "../../bench/lib/measure";
import { mixedStep } from "../../bench/lib/mix";
import { markdownTable, type Row } from "../../bench/lib/report";

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;
const servers: ReturnType<typeof createServer>[] = [];

async function serve(handler: Handler): Promise<URL> {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => handler(req, body, res));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

describe("measureAll", () => {
  const scenario = (name: string) => ({
    name,
    requests: 20,
    warmup: 5,
    connections: 2,
    serverPids: () => [process.pid],
    request: (n: number) => ({ path: `/n/${n}` }),
  });

  it("counts D1 queries and KV operations from Server-Timing, per request and in unrounded totals", async () => {
    const url = await serve((_req, _body, res) => {
      res.writeHead(200, {
        "Server-Timing": 'cache;desc=miss, db;dur=0.4;desc="2 queries", kv;dur=0.1;desc="1 operation"',
      });
      res.end("{}");
    });
    const [measured] = await measureAll([scenario("counted")], () => url);
    expect(measured).toMatchObject({
      scenario: "counted",
      dbQueriesPerRequest: 2,
      kvOperationsPerRequest: 1,
      totals: { requests: 20 * ROUNDS, dbQueries: 40 * ROUNDS, kvOperations: 20 * ROUNDS },
      errors: 0,
    } satisfies Partial<Measurement>);
    const { p99Ms, p99RangeMs } = measured as Measurement;
    expect(p99RangeMs[0]).toBeLessThanOrEqual(p99Ms);
    expect(p99RangeMs[1]).toBeGreaterThanOrEqual(p99Ms);
  });

  it("reports no query counts (null, not zero) for a server that sends no Server-Timing", async () => {
    const url = await serve((_req, _body, res) => res.end("hello"));
    const [measured] = await measureAll([scenario("peer")], () => url);
    expect(measured?.dbQueriesPerRequest).toBeNull();
    expect(measured?.totals).toEqual({ requests: 20 * ROUNDS, dbQueries: null, kvOperations: null });
  });

  it("counts an error answered during the warm-up, and sends every request number exactly once", async () => {
    const seen: number[] = [];
    const url = await serve((req, _body, res) => {
      const n = Number(req.url?.split("/").at(-1));
      seen.push(n);
      res.writeHead(n === 2 ? 500 : 200);
      res.end();
    });
    const [measured] = await measureAll([scenario("flaky")], () => url);
    expect(measured?.errors).toBe(1);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 5 + 20 * ROUNDS }, (_, n) => n));
  });
});

describe("setup calls", () => {
  it("fail loudly, with the status and the body, on an answer that is not 2xx", async () => {
    const url = await serve((_req, _body, res) => {
      res.writeHead(429, { "content-type": "application/json" });
      res.end('{"title":"Too many requests"}');
    });
    await expect(call({ url, host: "app.bench" }, "/api/users", { method: "POST", body: {} })).rejects.toThrow(
      'POST /api/users answered 429: {"title":"Too many requests"}',
    );
  });

  it("sign everyone up, run beforeSignIn, then sign everyone in, each from its own address", async () => {
    const log: string[] = [];
    const url = await serve((req, body, res) => {
      const { email } = JSON.parse(body) as { email: string };
      log.push(`${req.url} ${email} ${req.headers["cf-connecting-ip"]} ${req.headers.host}`);
      res.writeHead(req.url === "/api/users" ? 201 : 200, { "content-type": "application/json" });
      res.end(
        JSON.stringify(
          req.url === "/api/users" ? { id: `id-${email}` } : { token: `token-${email}`, accessToken: `at-${email}` },
        ),
      );
    });
    const members = await seedPopulation(
      { url, host: "app.bench" },
      {
        size: 2,
        domain: "bench.test",
        prefix: "mixer",
        password: "a long passphrase",
        beforeSignIn: async (signedUp) => {
          log.push(`beforeSignIn ${signedUp.map((member) => member.id).join(",")}`);
        },
      },
    );
    expect(log).toEqual([
      "/api/users mixer0@bench.test 198.18.1.0 app.bench",
      "/api/users mixer1@bench.test 198.18.1.1 app.bench",
      "beforeSignIn id-mixer0@bench.test,id-mixer1@bench.test",
      "/api/auth/login mixer0@bench.test 198.18.2.0 app.bench",
      "/api/auth/login mixer1@bench.test 198.18.2.1 app.bench",
    ]);
    expect(members).toEqual([
      {
        id: "id-mixer0@bench.test",
        email: "mixer0@bench.test",
        token: "token-mixer0@bench.test",
        accessToken: "at-mixer0@bench.test",
      },
      {
        id: "id-mixer1@bench.test",
        email: "mixer1@bench.test",
        token: "token-mixer1@bench.test",
        accessToken: "at-mixer1@bench.test",
      },
    ]);
  });
});

describe("the mixed workload", () => {
  const steps = Array.from({ length: 3000 }, (_, n) => mixedStep(n));

  it("is one write in ten", () => {
    expect(steps.filter((step) => step.write)).toHaveLength(300);
  });

  it("reads members in turn, so over twenty members every one written is read again within 200 requests", () => {
    const reads = steps.filter((step) => !step.write).map((step) => step.member);
    expect(reads).toEqual(reads.map((_, i) => i));
    steps.forEach((step, n) => {
      if (!step.write || n + 200 > steps.length) return;
      const readAgain = steps
        .slice(n + 1, n + 200)
        .some((later) => !later.write && later.member % 20 === step.member % 20);
      expect(readAgain, `member written at request ${n}`).toBe(true);
    });
  });
});

describe("the README's table", () => {
  const row = (overrides: Partial<Row>): Row => ({
    group: "read",
    scenario: "public profile, cached",
    requestsPerSecond: 2649,
    p50Ms: 2,
    p99Ms: 32,
    p99RangeMs: [23, 33],
    serverCpuMsPerRequest: 0.39,
    loadGeneratorCpuMsPerRequest: 0.06,
    dbQueriesPerRequest: 0,
    kvOperationsPerRequest: 0.01,
    bytesPerResponse: 875,
    totals: { requests: 20000, dbQueries: 0, kvOperations: 100 },
    errors: 0,
    vsHelloWorld: 0.66,
    vsExpress: 0.49,
    ...overrides,
  });

  it("prints each measurement, with a dash where nothing was counted and a blank where Express has no counterpart", () => {
    const table = markdownTable([
      row({}),
      row({
        group: "peer",
        scenario: "Express + better-sqlite3: profile read",
        requestsPerSecond: 5426,
        dbQueriesPerRequest: null,
        kvOperationsPerRequest: null,
        vsHelloWorld: 1.34,
        vsExpress: null,
      }),
    ]).split("\n");
    expect(table[2]).toBe(
      "| public profile, cached | 2,649 | 2 ms | 32 ms (23–33) | 0.39 ms | 0.06 ms | 0 | 0.01 | 875 | 0.66 | 0.49 | 0 |",
    );
    expect(table[3]).toBe(
      "| Express + better-sqlite3: profile read | 5,426 | 2 ms | 32 ms (23–33) | 0.39 ms | 0.06 ms | – | – | 875 | 1.34 |  | 0 |",
    );
  });
});
