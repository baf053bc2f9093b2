/**
 * The webhooks queue's consumer (the Worker's `queue` handler, the Node host's in-memory queue):
 * one attempt per message, its outcome written to the delivery log, then ack or retry with the
 * schedule's delay (or the receiver's Retry-After). After the last attempt the queue moves the
 * message to the dead-letter queue (max_retries in wrangler.toml is MAX_ATTEMPTS - 1), whose
 * consumer logs it. A 410 disables the endpoint; so does a day of nothing but failures.
 */
import { log } from "../lib/log";
import type { Sealer } from "../lib/sealing";
import { type AttemptOutcome, attemptDelivery, nextRetryDelaySeconds, type WebhookTransport } from "./attempt";
import type { UrlPolicy } from "./url-policy";
import type { WebhooksRepository } from "./webhooks.repository";
import type { WebhookQueueMessage } from "./webhooks.service";

const FAILING_DISABLE_AFTER_MS = 86_400_000;
const MIN_ATTEMPTS = 5;

export type WebhookConsumerDeps = {
  repository: WebhooksRepository;
  sealer: Sealer;
  policy: UrlPolicy;
  transport: WebhookTransport;
  /** The schedule's delays times this (WEBHOOK_RETRY_DELAY_SCALE: 1, or less in tests). */
  retryDelayScale?: number;
  now?: () => Date;
};

export async function consumeWebhooks(batch: MessageBatch<WebhookQueueMessage>, deps: WebhookConsumerDeps) {
  if (batch.queue.endsWith("-dlq")) {
    for (const message of batch.messages) {
      log("error", "webhook delivery dead-lettered: every attempt failed", { deliveryId: message.body.deliveryId });
      // Its row says so too, even if the consumer never got to record the last attempt.
      await deps.repository.failPending(message.body.deliveryId, "every attempt failed (dead-lettered)", new Date());
      message.ack();
    }
    return;
  }
  for (const message of batch.messages) {
    const delay = await deliverOne(message.body.deliveryId, deps);
    if (delay === null) message.ack();
    else message.retry({ delaySeconds: delay });
  }
}

/** Attempts one delivery; the retry delay in seconds, or null when the message is done with. */
async function deliverOne(
  deliveryId: string,
  { repository, sealer, policy, transport, retryDelayScale = 1, now = () => new Date() }: WebhookConsumerDeps,
) {
  const found = await repository.findDelivery(deliveryId);
  // Deleted with its endpoint, or already delivered by an earlier copy of this message.
  if (!found || found.delivery.status !== "pending") return null;
  const { delivery, endpoint } = found;
  const attempt = delivery.attempt + 1;
  const fail = (error: string, status: "failed" | "pending" = "failed", outcome?: AttemptOutcome) =>
    repository.recordAttempt(
      delivery.id,
      { attempt, status, responseStatus: outcome?.responseStatus ?? null, durationMs: outcome?.durationMs ?? 0, error },
      now(),
    );
  if (!endpoint.enabled) {
    // Kept, not failed: enabling the endpoint hands its pending deliveries over again.
    await repository.recordAttempt(
      delivery.id,
      {
        attempt: delivery.attempt,
        status: "pending",
        responseStatus: null,
        durationMs: 0,
        error: "the endpoint is disabled",
      },
      now(),
    );
    return null;
  }
  const secret = await sealer.open(endpoint.sealedSecret, endpoint.id);
  if (!secret) {
    await fail("the endpoint's secret cannot be opened (APP_SECRET changed without APP_SECRET_PREVIOUS)");
    return null;
  }
  const outcome = await attemptDelivery(
    { url: endpoint.url, secret: secret.plaintext },
    {
      id: delivery.eventId,
      type: delivery.eventType,
      timestamp: delivery.occurredAt.toISOString(),
      data: JSON.parse(delivery.payload),
    },
    { transport, policy },
  );
  if (outcome.result === "delivered") {
    await repository.recordAttempt(
      delivery.id,
      {
        attempt,
        status: "succeeded",
        responseStatus: outcome.responseStatus,
        durationMs: outcome.durationMs,
        error: null,
      },
      now(),
    );
    if (endpoint.failingSince) await repository.markHealthy(endpoint.id);
    return null;
  }
  const error = outcome.error ?? "failed";
  if (outcome.result === "gone" || outcome.result === "refused") {
    await fail(error, "failed", outcome);
    const reason =
      outcome.result === "gone" ? "The receiver answered 410 Gone." : `The URL is no longer allowed: ${error}.`;
    await repository.disableEndpoint(endpoint.id, reason, now());
    log("warn", "webhook endpoint disabled", { endpointId: endpoint.id, reason });
    return null;
  }
  const failingSince = await repository.markFailing(endpoint.id, now());
  // Every delivery gets its first attempts whatever the endpoint's history: only one that has
  // failed MIN_ATTEMPTS times, at an endpoint failing for a day, disables it.
  if (attempt >= MIN_ATTEMPTS && now().getTime() - failingSince.getTime() >= FAILING_DISABLE_AFTER_MS) {
    await fail(error, "failed", outcome);
    const reason = "Every delivery failed for a day.";
    await repository.disableEndpoint(endpoint.id, reason, now());
    log("warn", "webhook endpoint disabled", { endpointId: endpoint.id, reason });
    return null;
  }
  const delay = nextRetryDelaySeconds(attempt, outcome);
  await fail(error, delay === null ? "failed" : "pending", outcome);
  // After the last attempt the message is retried once more, which the queue turns into a dead letter.
  return Math.round((delay ?? 0) * retryDelayScale);
}
