/**
 * edge-users on Node: the same Hono app, with libSQL as its database, an in-memory cache tier
 * and in-memory rate limits, for self-hosting and for comparing runtimes. One process: memory
 * tiers are per process, as they are per isolate on Workers.
 */
import { createServer } from "node:http";
import { getRequestListener } from "@hono/node-server";
import type { Client } from "@libsql/client";
import { consumeMail } from "../accounts/mail-consumer";
import { createApp } from "../app";
import { type Bindings, CONFIG_VARIABLES, readConfig } from "../config";
import { libsqlBackend } from "../db/libsql";
import { applyLibsqlMigrations, type Migration } from "../db/libsql-migrations";
import { runHousekeeping } from "../housekeeping";
import { rootCauseMessage } from "../lib/errors";
import { log } from "../lib/log";
import { rateLimitPolicies } from "../limits/policies";
import type { QueuedMail } from "../mail/mail";
import { MAX_ATTEMPTS } from "../webhooks/attempt";
import type { WebhookQueueMessage } from "../webhooks/webhooks.service";
import { consumeWebhookBatch } from "../webhooks/webhooks-consumer.entry";
import { clientAddressOf, NO_TRUSTED_PROXIES, type TrustedProxies } from "./client-address";
import { createMemoryKv } from "./memory-kv";
import { createMemoryQueue } from "./memory-queue";
import { createMemoryRateLimit } from "./memory-rate-limit";
import { nodeWebhookTransport } from "./webhook-transport";

function nodeBindings(client: Client, rateLimits: boolean, environment: NodeJS.ProcessEnv = process.env): Bindings {
  const vars = Object.fromEntries(
    CONFIG_VARIABLES.filter((key) => !key.startsWith("LIBSQL")).flatMap((key) =>
      environment[key] ? [[key, environment[key]]] : [],
    ),
  );
  const env = {
    ...vars,
    LIBSQL_CLIENT: client as never,
    CACHE: createMemoryKv(),
    // Mail is queued and delivered in this process, with the Worker's retries and dead-lettering.
    MAIL_QUEUE: createMemoryQueue<QueuedMail>("edge-users-mail", (batch) => consumeMail(batch, env, libsqlBackend)),
    // Webhooks too, with the Worker's schedule, and the address checked at connect time.
    WEBHOOK_QUEUE: createMemoryQueue<WebhookQueueMessage>(
      "edge-users-webhooks",
      (batch) =>
        consumeWebhookBatch(
          batch,
          env,
          libsqlBackend,
          nodeWebhookTransport({ allowLoopback: readConfig(env).webhooks.allowLoopback }),
        ),
      { maxRetries: MAX_ATTEMPTS - 1 },
    ),
    // Without them, every limit lets requests through (as a limiter that is down does).
    ...(rateLimits
      ? Object.fromEntries(
          Object.values(rateLimitPolicies).map((policy) => [policy.binding, createMemoryRateLimit(policy)]),
        )
      : {}),
  } as unknown as Bindings;
  return env;
}

const waitUntil = (task: Promise<unknown>) =>
  void task.catch((error: unknown) => log("warn", "background task failed", { error: rootCauseMessage(error) }));

/**
 * Migrates, then serves. Nothing sits in front of this server to vouch for CF-Connecting-IP, so
 * whatever a client sends there is replaced by the client's address: the socket's, or, for a
 * request from one of `trustedProxies`, the one its X-Forwarded-For names (src/node/client-address.ts).
 */
export async function startNodeServer({
  client,
  migrations,
  port,
  hostname = "127.0.0.1",
  rateLimits = true,
  trustedProxies = NO_TRUSTED_PROXIES,
}: {
  client: Client;
  migrations: Migration[];
  port: number;
  hostname?: string;
  /** Off only on request (`--no-rate-limits`): a load test or a frontend's test suite on one machine. */
  rateLimits?: boolean;
  /** Reverse proxies whose X-Forwarded-For is believed (`TRUSTED_PROXIES`); none by default. */
  trustedProxies?: TrustedProxies;
}) {
  await applyLibsqlMigrations(client as never, migrations);
  const env = nodeBindings(client, rateLimits);
  const ctx = { waitUntil, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
  const app = createApp(libsqlBackend);
  const handle = getRequestListener((request) => app.fetch(request, env, ctx));
  const server = createServer((incoming, outgoing) => {
    // The client's address replaces any CF-Connecting-IP a client sent, in the raw headers the
    // request is built from (cheaper than copying every request into a new one).
    const raw = incoming.rawHeaders;
    const forwardedFor: string[] = [];
    for (let i = raw.length - 2; i >= 0; i -= 2) {
      const name = raw[i]?.toLowerCase();
      if (name === "cf-connecting-ip") raw.splice(i, 2);
      else if (name === "x-forwarded-for") forwardedFor.unshift(raw[i + 1] ?? "");
    }
    raw.push("CF-Connecting-IP", clientAddressOf(incoming.socket.remoteAddress, forwardedFor, trustedProxies));
    return handle(incoming, outgoing);
  }).listen(port, hostname);
  // The Worker's per-minute cron, as a timer.
  const housekeeping = setInterval(() => waitUntil(runHousekeeping(libsqlBackend, env, waitUntil)), 60_000);
  housekeeping.unref();
  /** Stops the timers and stops accepting; `done` runs once every request in flight has finished. */
  const close = (done?: () => void) => {
    clearInterval(housekeeping);
    server.close(() => done?.());
    server.closeIdleConnections();
  };
  return { server, env, close };
}
