/**
 * Mail, as the rest of the app sees it: a job put on the queue (what to send, to whom, with which
 * link), rendered by src/mail/templates.ts and handed to one transport by the queue's consumer.
 */

/**
 * A mail to send. It holds a live link (and so its token) in clear: it goes on the queue only
 * sealed (src/mail/mailer.ts). No display name or other text a stranger could choose: a mail quotes
 * only the recipient's own address data, never as its first line and never as a link.
 */
export type MailJob =
  | { kind: "verify-email"; to: string; link: string; expiresAt: string }
  | { kind: "reset-password"; to: string; link: string; expiresAt: string; byAdmin: boolean }
  | {
      kind: "email-changed";
      to: string;
      newEmail: string;
      changedAt: string;
      /** An owner's change: a one-time link that restores this address and ends every session. */
      undo?: { link: string; expiresAt: string } | undefined;
    };

/**
 * What the queue (and its dead-letter queue) carries: the job sealed under a key derived from
 * APP_SECRET (src/lib/sealing.ts), bound to the mail's id. In clear only the id (the provider's
 * idempotency key and the Message-ID, the same on every retry) and the kind, for the logs.
 */
export type QueuedMail = { v: 1; id: string; kind: MailJob["kind"]; sealed: string };

/** A rendered mail. */
export type Mail = { to: string; subject: string; text: string; html: string };

/** Puts mail on the queue; never sends it on the request's path. */
export type Mailer = { send(job: MailJob): Promise<void> };

/** Sends one rendered mail. `idempotencyKey` is the mail's id, the same on every retry. */
export type MailTransport = {
  readonly name: string;
  send(mail: Mail, options: { from: string; idempotencyKey: string }): Promise<void>;
};

/** The links a mail carries, for the consumer's last check that each is still good to use. */
export function linksOf(job: MailJob): string[] {
  if (job.kind === "email-changed") return job.undo ? [job.undo.link] : [];
  return [job.link];
}

/**
 * A delivery that failed. `retryable`: the provider was down, slow or limiting, so the message is
 * tried again later (after `retryAfterSeconds` if the provider said); otherwise the mail can never
 * be delivered as it is (a rejected address or sender, a bad key) and retrying would not help.
 */
export class MailDeliveryError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = "MailDeliveryError";
  }
}
