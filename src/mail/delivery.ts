import { type AppConfig, type Bindings, readConfig } from "../config";
import { rootCauseMessage } from "../lib/errors";
import { log } from "../lib/log";
import { MailDeliveryError, type MailJob, type MailTransport } from "./mail";
import { renderMail } from "./templates";
import { createMailTransport } from "./transports";

/** The dead-letter queue is the mail queue's name with this suffix (wrangler.toml). */
const DEAD_LETTER_SUFFIX = "-dlq";
// Backoff doubles from MAIL_RETRY_BASE_DELAY_SECONDS up to this (the platform's maximum is 12 h).
const MAX_RETRY_DELAY_SECONDS = 3600;

/**
 * The mail queue's consumer (the Worker's `queue` handler): renders each job and hands it to the
 * transport. A failure the provider may recover from is retried with exponential backoff (or
 * after the provider's Retry-After); after the queue's max_retries the message moves to the
 * dead-letter queue, whose messages are logged as lost (kind and id, never the link) and dropped.
 * A failure no retry can fix is logged and dropped at once. Nothing here ever reaches a request.
 */
export async function deliverMail(batch: MessageBatch<MailJob>, env: Bindings): Promise<void> {
  const about = (message: Message<MailJob>) => ({
    kind: message.body.kind,
    messageId: message.id,
    attempt: message.attempts,
  });
  if (batch.queue.endsWith(DEAD_LETTER_SUFFIX)) {
    for (const message of batch.messages) {
      log("error", "mail undeliverable: dead-lettered after every retry", about(message));
      message.ack();
    }
    return;
  }
  let config: AppConfig;
  try {
    config = readConfig(env);
  } catch (error) {
    // Nothing can be sent until the configuration is fixed (and redeployed): try again later.
    log("error", "mail not sent: the configuration is invalid; retrying later", { error: rootCauseMessage(error) });
    batch.retryAll({ delaySeconds: MAX_RETRY_DELAY_SECONDS / 12 });
    return;
  }
  const transport = createMailTransport(config, env);
  for (const message of batch.messages) await deliverOne(message, transport, config, about(message));
}

async function deliverOne(
  message: Message<MailJob>,
  transport: MailTransport,
  config: AppConfig,
  about: Record<string, unknown>,
): Promise<void> {
  try {
    await transport.send(renderMail(message.body), { from: config.mail.from, idempotencyKey: message.id });
    message.ack();
    log("info", "mail sent", { ...about, transport: transport.name });
  } catch (error) {
    if (error instanceof MailDeliveryError && !error.retryable) {
      log("error", "mail undeliverable: the provider refused it", { ...about, error: error.message });
      message.ack();
      return;
    }
    const backoff = config.mail.retryBaseDelaySeconds * 2 ** Math.max(0, message.attempts - 1);
    const delaySeconds = Math.min(
      MAX_RETRY_DELAY_SECONDS,
      error instanceof MailDeliveryError && error.retryAfterSeconds ? error.retryAfterSeconds : backoff,
    );
    log("warn", "mail not sent; retrying", { ...about, delaySeconds, error: rootCauseMessage(error) });
    message.retry({ delaySeconds });
  }
}
