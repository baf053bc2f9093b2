import type { Mailer, MailJob } from "./mail";

/**
 * Mail goes on the queue (MAIL_QUEUE) and the request answers; the queue's consumer
 * (src/mail/delivery.ts) sends it, so a slow or failing provider never fails or slows a request.
 */
export function createMailer(queue: Queue<MailJob>): Mailer {
  return {
    async send(job) {
      await queue.send(job, { contentType: "json" });
    },
  };
}
