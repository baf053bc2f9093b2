import { newId } from "../lib/ids";
import type { Sealer } from "../lib/sealing";
import type { Mailer, MailJob, QueuedMail } from "./mail";

/**
 * Mail goes on the queue (MAIL_QUEUE) and the request answers; the queue's consumer
 * (src/mail/delivery.ts) sends it, so a slow or failing provider never fails or slows a request.
 * The job is sealed first: a queue message, a dead letter or a log of either never shows a live link.
 */
export function createMailer(queue: Queue<QueuedMail>, sealer: Sealer): Mailer {
  return {
    async send(job) {
      const id = newId();
      const sealed = await sealer.seal(JSON.stringify(job), id);
      await queue.send({ v: 1, id, kind: job.kind, sealed }, { contentType: "json" });
    },
  };
}

/** The job a queued mail seals, or null when neither APP_SECRET nor APP_SECRET_PREVIOUS opens it. */
export async function openQueuedMail(queued: QueuedMail, sealer: Sealer): Promise<MailJob | null> {
  const opened = await sealer.open(queued.sealed, queued.id);
  return opened ? (JSON.parse(opened.plaintext) as MailJob) : null;
}
