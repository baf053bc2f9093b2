/**
 * Mail, as the rest of the app sees it: a job put on the queue (what to send, to whom, with which
 * link), rendered by src/mail/templates.ts and handed to one transport by the queue's consumer.
 */

/** A mail to send: the queue message's body. It holds the link (and so its token) in clear. */
export type MailJob =
  | { kind: "verify-email"; to: string; name: string; link: string; expiresAt: string }
  | { kind: "reset-password"; to: string; name: string; link: string; expiresAt: string; byAdmin: boolean }
  | { kind: "email-changed"; to: string; name: string; newEmail: string; changedAt: string };

/** A rendered mail. */
export type Mail = { to: string; subject: string; text: string; html: string };

/** Puts mail on the queue; never sends it on the request's path. */
export type Mailer = { send(job: MailJob): Promise<void> };

/** Sends one rendered mail. `idempotencyKey` is the queue message's id, the same on every retry. */
export type MailTransport = {
  readonly name: string;
  send(mail: Mail, options: { from: string; idempotencyKey: string }): Promise<void>;
};

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
