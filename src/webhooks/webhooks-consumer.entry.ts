/**
 * The webhooks queue's consumer as the entry points run it: the Worker's `queue` handler with
 * fetch (under `global_fetch_strictly_public`, redirects not followed), the Node host's in-memory
 * queue with its connect-time address check.
 */
import { type Bindings, readConfig } from "../config";
import type { DatabaseBackend } from "../db/backend";
import { RequestMetrics } from "../lib/metrics";
import { createSealer } from "../lib/sealing";
import type { WebhookTransport } from "./attempt";
import { consumeWebhooks } from "./consumer";
import { createWebhooksRepository } from "./webhooks.repository";
import type { WebhookQueueMessage } from "./webhooks.service";

const fetchTransport: WebhookTransport = async (url, init) => {
  const response = await fetch(url, { ...init, redirect: "manual" });
  // The body is never read: cancel it so the connection is let go at once.
  await response.body?.cancel();
  return { status: response.status, headers: response.headers };
};

export async function consumeWebhookBatch(
  batch: MessageBatch<WebhookQueueMessage>,
  env: Bindings,
  backend: DatabaseBackend,
  transport: WebhookTransport = fetchTransport,
) {
  const config = readConfig(env);
  await consumeWebhooks(batch, {
    repository: createWebhooksRepository(backend.open(env, config, new RequestMetrics())),
    sealer: createSealer({ current: config.appSecret, previous: config.appSecretPrevious }, "webhook-secrets"),
    policy: { allowLoopback: config.webhooks.allowLoopback },
    transport,
    retryDelayScale: config.webhooks.retryDelayScale,
  });
}
