/**
 * edge-users on Node: the same Hono app, with libSQL as its database, an in-memory cache tier
 * and in-memory rate limits, for self-hosting and for comparing runtimes. One process: memory
 * tiers are per process, as they are per isolate on Workers.
 */
import { serve } from "@hono/node-server";
import type { Client } from "@libsql/client";
import { createApp } from "../app";
import { type Bindings, CONFIG_VARIABLES } from "../config";
import { libsqlBackend } from "../db/libsql";
import { applyLibsqlMigrations, type Migration } from "../db/libsql-migrations";
import { runHousekeeping } from "../housekeeping";
import { rootCauseMessage } from "../lib/errors";
import { log } from "../lib/log";
import { rateLimitPolicies } from "../limits/policies";
import { createMemoryKv } from "./memory-kv";
import { createMemoryRateLimit } from "./memory-rate-limit";

function nodeBindings(client: Client, environment: NodeJS.ProcessEnv = process.env): Bindings {
  const vars = Object.fromEntries(
    CONFIG_VARIABLES.filter((key) => !key.startsWith("LIBSQL")).flatMap((key) =>
      environment[key] ? [[key, environment[key]]] : [],
    ),
  );
  return {
    ...vars,
    LIBSQL_CLIENT: client as never,
    CACHE: createMemoryKv(),
    ...Object.fromEntries(
      Object.values(rateLimitPolicies).map((policy) => [policy.binding, createMemoryRateLimit(policy)]),
    ),
  } as unknown as Bindings;
}

const waitUntil = (task: Promise<unknown>) =>
  void task.catch((error: unknown) => log("warn", "background task failed", { error: rootCauseMessage(error) }));

/**
 * Migrates, then serves. Nothing sits in front of this server to vouch for CF-Connecting-IP, so
 * whatever a client sends there is replaced by the socket's address.
 */
export async function startNodeServer({
  client,
  migrations,
  port,
  hostname = "127.0.0.1",
}: {
  client: Client;
  migrations: Migration[];
  port: number;
  hostname?: string;
}) {
  await applyLibsqlMigrations(client as never, migrations);
  const env = nodeBindings(client);
  const ctx = { waitUntil, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
  const app = createApp(libsqlBackend);
  const server = serve({
    port,
    hostname,
    fetch: (request, info: { incoming?: { socket?: { remoteAddress?: string } } }) => {
      const headers = new Headers(request.headers);
      headers.set("CF-Connecting-IP", info.incoming?.socket?.remoteAddress ?? "unknown");
      return app.fetch(new Request(request, { headers }), env, ctx);
    },
  });
  // The Worker's per-minute cron, as a timer.
  const housekeeping = setInterval(() => waitUntil(runHousekeeping(libsqlBackend, env, waitUntil)), 60_000);
  housekeeping.unref();
  const close = () => {
    clearInterval(housekeeping);
    server.close();
  };
  return { server, env, close };
}
