import { type AppConfig, type Bindings, readConfig } from "../config";
import { rootCauseMessage } from "../lib/errors";
import { log } from "../lib/log";
import { createSealer } from "../lib/sealing";
import { linksOf, MailDeliveryError, type MailJob, type MailTransport, type QueuedMail } from "./mail";
import { openQueuedMail } from "./mailer";
import { renderMail } from "./templates";
import { createMailTransport } from "./transports";

/** The dead-letter queue is the mail queue's name with this suffix (wrangler.toml). */
const DEAD_LETTER_SUFFIX = "-dlq";
// Backoff doubles from MAIL_RETRY_BASE_DELAY_SECONDS up to this (the platform's maximum is 12 h).
const MAX_RETRY_DELAY_SECONDS = 3600;

/** What delivery asks of the rest of the app: whether a mailed link can still be used. */
export type MailDeliveryDeps = {
  /** False for a link used, voided or expired since it was queued: its mail is dropped, not sent. */
  linkIsLive(link: string): Promise<boolean>;
};

/**
 * The mail queue's consumer (the Worker's `queue` handler): opens each sealed job, drops one whose
 * link has since been used or voided, renders the rest and hands them to the transport. A failure
 * the provider may recover from is retried with exponential backoff (or after the provider's
 * Retry-After); after the queue's max_retries the message moves to the dead-letter queue, whose
 * messages are logged as lost (kind and id: the rest is sealed) and dropped. A failure no retry
 * can fix is logged and dropped at once. Nothing here ever reaches a request.
 */
export async function deliverMail(
  batch: MessageBatch<QueuedMail>,
  env: Bindings,
  deps: MailDeliveryDeps,
): Promise<void> {
  const about = (message: Message<QueuedMail>) => ({
    kind: message.body.kind,
    mailId: message.body.id,
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
  const sealer = createSealer({ current: config.appSecret, previous: config.appSecretPrevious }, "mail-queue");
  for (const message of batch.messages) {
    const job = await openQueuedMail(message.body, sealer).catch(() => null);
    if (!job) {
      // Sealed under a secret this Worker no longer has (APP_SECRET changed without
      // APP_SECRET_PREVIOUS), or not ours: no retry can open it.
      log("error", "mail dropped: its message does not open under APP_SECRET or APP_SECRET_PREVIOUS", about(message));
      message.ack();
      continue;
    }
    await deliverOne(message, job, transport, config, deps, about(message));
  }
}

async function deliverOne(
  message: Message<QueuedMail>,
  job: MailJob,
  transport: MailTransport,
  config: AppConfig,
  deps: MailDeliveryDeps,
  about: Record<string, unknown>,
): Promise<void> {
  try {
    for (const link of linksOf(job)) {
      if (!(await deps.linkIsLive(link))) {
        log("info", "mail dropped: its link was used, voided or has expired since it was queued", about);
        message.ack();
        return;
      }
    }
    await transport.send(renderMail(job), { from: config.mail.from, idempotencyKey: message.body.id });
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
