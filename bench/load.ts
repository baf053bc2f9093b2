/**
 * npm run bench:load — a mixed load against the Worker as deployed (local workerd), then an audit
 * of the database: every acknowledged write must be there exactly once, no 5xx may have appeared,
 * and the sign-in and sign-up rate limits must have engaged for the clients that overran them.
 */
import { writeFileSync } from "node:fs";
import { runAutocannon, seedPopulation } from "./lib/client";
import { startWorkers, withBuiltWorker } from "./lib/harness";

const TOTAL_REQUESTS = 3000;
const CONNECTIONS = 10;
const PASSWORD = "load test passphrase";

type Kind = "read-profile" | "read-me" | "login" | "login-wrong" | "create" | "create-retry" | "patch";
// Deterministic mix: 60% reads, 15% sign-ins, 25% writes.
const schedule: Kind[] = [
  ...Array<Kind>(8).fill("read-profile"),
  ...Array<Kind>(4).fill("read-me"),
  "login",
  ...Array<Kind>(2).fill("login-wrong"),
  ...Array<Kind>(2).fill("create"),
  "create-retry",
  ...Array<Kind>(2).fill("patch"),
];

await withBuiltWorker(loadTest);

async function loadTest(scriptPath: string) {
  const { mf, url, hosts } = await startWorkers(scriptPath);
  try {
    // A population to read and sign in with, each with its own session.
    const population = await seedPopulation(
      { url, host: hosts.app },
      { size: 20, domain: "load.test", password: PASSWORD },
    );

    const acknowledged: { id: string; email: string }[] = [];
    const byKind = new Map<Kind, Map<number, number>>();
    let sequence = 0;
    const sentCreates: { n: number; address: string }[] = [];
    const replays: { id: string; email: string }[] = [];
    const perKind = new Map<string, number>();
    // The nth request of this kind: spreads each kind over its own set of client addresses.
    const nth = (kind: string) => {
      const count = perKind.get(kind) ?? 0;
      perKind.set(kind, count + 1);
      return count;
    };
    const started = performance.now();

    const result = await runAutocannon({
      url: url.toString(),
      connections: CONNECTIONS,
      amount: TOTAL_REQUESTS,
      requests: [
        {
          setupRequest: (request, state) => {
            const context = state as Record<string, unknown>;
            const n = sequence++;
            const kind = schedule[n % schedule.length] as Kind;
            const k = nth(kind);
            const who = population[k % population.length] as (typeof population)[number];
            context.kind = kind;
            // Readers and writers come from many addresses (as in production); sign-ins from three.
            const headers: Record<string, string> = {
              host: hosts.app,
              "content-type": "application/json",
              "cf-connecting-ip": `198.18.5.${k % 200}`,
            };
            switch (kind) {
              case "read-profile":
                return { ...request, method: "GET", path: `/api/users/${who.id}`, headers, body: undefined };
              case "read-me":
                return {
                  ...request,
                  method: "GET",
                  path: "/api/auth/me",
                  headers: { ...headers, authorization: `Bearer ${who.token}` },
                  body: undefined,
                };
              case "login":
              case "login-wrong": {
                // Three client addresses share all sign-ins, so the per-address limit must engage.
                const password = kind === "login" ? PASSWORD : "not the password";
                return {
                  ...request,
                  method: "POST",
                  path: "/api/auth/login",
                  headers: { ...headers, "cf-connecting-ip": `198.18.3.${k % 3}` },
                  body: JSON.stringify({ email: who.email, password }),
                };
              }
              case "create":
              case "create-retry": {
                // Twenty addresses sign up at ~30/min each: over the 5/min limit. A retry resends
                // the latest sign-up exactly (same address, key and body), as a client whose
                // connection dropped would.
                const retried = kind === "create-retry" ? sentCreates.at(-1) : undefined;
                const sent = retried ?? { n, address: `198.18.4.${nth("create-address") % 20}` };
                if (!retried) sentCreates.push(sent);
                return {
                  ...request,
                  method: "POST",
                  path: "/api/users",
                  headers: { ...headers, "cf-connecting-ip": sent.address, "idempotency-key": `load-${sent.n}` },
                  body: JSON.stringify({
                    email: `load${sent.n}@load.test`,
                    username: `load${sent.n}`,
                    name: "Load",
                    password: PASSWORD,
                  }),
                };
              }
              case "patch":
                return {
                  ...request,
                  method: "PATCH",
                  path: `/api/users/${who.id}`,
                  headers: { ...headers, authorization: `Bearer ${who.token}` },
                  body: JSON.stringify({ name: `Reader ${n}` }),
                };
            }
          },
          onResponse: (status, body, state, responseHeaders) => {
            const context = state as Record<string, unknown>;
            const kind = context.kind as Kind;
            const counts = byKind.get(kind) ?? new Map<number, number>();
            counts.set(status, (counts.get(status) ?? 0) + 1);
            byKind.set(kind, counts);
            if ((kind === "create" || kind === "create-retry") && status === 201) {
              const user = JSON.parse(body) as { id: string; email: string };
              // autocannon keeps the server's header case.
              const replayed = Object.entries(responseHeaders ?? {}).some(
                ([name, value]) => name.toLowerCase() === "idempotent-replayed" && String(value) === "true",
              );
              if (replayed) replays.push({ id: user.id, email: user.email });
              else acknowledged.push({ id: user.id, email: user.email });
            }
          },
        },
      ],
    });
    const seconds = (performance.now() - started) / 1000;

    // The audit.
    const db = await mf.getD1Database("DB", "app");
    type Row = { id: string; email: string };
    const rows = (await db.prepare("select id, email from users where email like 'load%@load.test'").all())
      .results as Row[];
    const stored = new Map(rows.map((row) => [row.email, row.id]));
    const missing = acknowledged.filter((write) => stored.get(write.email) !== write.id);
    const duplicates = rows.length - new Set(rows.map((row) => row.email)).size;
    const unacknowledged = rows.filter((row) => !acknowledged.some((write) => write.email === row.email));
    const statuses = Object.fromEntries([...byKind].map(([kind, counts]) => [kind, Object.fromEntries(counts)]));
    const serverErrors = [...byKind.values()].flatMap((counts) => [...counts]).filter(([status]) => status >= 500);
    const limited = (kind: Kind) => byKind.get(kind)?.get(429) ?? 0;

    const report = {
      date: new Date().toISOString(),
      method: { requests: TOTAL_REQUESTS, connections: CONNECTIONS, mix: "60% reads, 15% sign-ins, 25% writes" },
      requestsPerSecond: Math.round(result.requests.total / seconds),
      latencyMs: { p50: result.latency.p50, p99: result.latency.p99 },
      statuses,
      audit: {
        acknowledgedWrites: acknowledged.length,
        storedWrites: rows.length,
        missing: missing.length,
        duplicates,
        storedButNotAcknowledged: unacknowledged.length,
        replayedRetries: replays.length,
        replaysNotMatchingTheStoredUser: replays.filter((replay) => stored.get(replay.email) !== replay.id).length,
        serverErrors: serverErrors.length,
        signInsRateLimited: limited("login") + limited("login-wrong"),
        signUpsRateLimited: limited("create") + limited("create-retry"),
      },
    };
    console.log(JSON.stringify(report, null, 2));
    writeFileSync(new URL("./results/load.json", import.meta.url), `${JSON.stringify(report, null, 2)}\n`);

    const failures = [
      missing.length > 0 && `${missing.length} acknowledged writes are missing`,
      duplicates > 0 && `${duplicates} writes are stored twice`,
      unacknowledged.length > 0 && `${unacknowledged.length} users stored without an acknowledgement`,
      report.audit.replaysNotMatchingTheStoredUser > 0 && "a replayed retry answered with another user",
      replays.length === 0 && "no retry was replayed",
      serverErrors.length > 0 && `${serverErrors.length} 5xx answers`,
      report.audit.signInsRateLimited === 0 && "the sign-in rate limit never engaged",
      report.audit.signUpsRateLimited === 0 && "the sign-up rate limit never engaged",
    ].filter(Boolean);
    if (failures.length > 0) {
      console.error(`load test FAILED: ${failures.join("; ")}`);
      process.exitCode = 1;
    } else {
      console.log("load test passed: every acknowledged write stored once, no 5xx, limits engaged");
    }
  } finally {
    await mf.dispose();
  }
}
