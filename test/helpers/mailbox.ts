/**
 * A stand-in for Resend's API, the one remote part the tests cannot reach: vitest.config.ts sets
 * MAIL_TRANSPORT=resend, so every mail the Worker's queue consumer sends (in this isolate, through
 * the real local queue) arrives here as the HTTP request Resend would get. Like Resend, a request
 * repeating an Idempotency-Key it has seen sends nothing again. Tests read what was sent and can
 * make the provider fail.
 */
import { vi } from "vitest";

const RESEND_URL = "https://api.resend.com/emails";

export type SentMail = {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  idempotencyKey: string | null;
  apiKey: string | null;
};

type Fault = (mail: SentMail) => { status: number; body?: unknown; headers?: Record<string, string>; keep?: boolean };

type State = { sent: SentMail[]; requests: SentMail[]; faults: Fault[]; installed: boolean };
// One per isolate (each test file has its own), whichever module instance installs it.
const holder = globalThis as { __mailbox?: State };
holder.__mailbox ??= { sent: [], requests: [], faults: [], installed: false };
const state: State = holder.__mailbox;

/** Routes Resend's endpoint to the mailbox; every other fetch goes where it was going. */
export function installMailbox() {
  if (state.installed) return;
  state.installed = true;
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const request = new Request(input, init);
    if (request.url !== RESEND_URL) return realFetch(input, init);
    const body = (await request.json()) as { from: string; to: string[]; subject: string; text: string; html: string };
    const mail: SentMail = {
      from: body.from,
      to: body.to.join(","),
      subject: body.subject,
      text: body.text,
      html: body.html,
      idempotencyKey: request.headers.get("Idempotency-Key"),
      apiKey: request.headers.get("Authorization"),
    };
    state.requests.push(mail);
    const fault = state.faults.shift();
    const answer = fault?.(mail);
    const seen = mail.idempotencyKey !== null && state.sent.some((m) => m.idempotencyKey === mail.idempotencyKey);
    if (answer?.keep || (!answer && !seen)) state.sent.push(mail);
    if (answer) {
      return Response.json(answer.body ?? {}, { status: answer.status, headers: answer.headers });
    }
    return Response.json({ id: crypto.randomUUID() });
  };
}

export const mailbox = {
  /** Every mail sent so far (a key seen before sends nothing again). */
  sent: () => [...state.sent],
  /** Every request that reached the provider, sent or not. */
  requests: () => [...state.requests],
  /** Mails sent to `address`, oldest first. */
  to: (address: string) => state.sent.filter((mail) => mail.to === address),
  /** The provider answers the next requests with these faults, one each, in order. */
  fail(...faults: Fault[]) {
    state.faults.push(...faults);
  },
  /** Waits until `count` mails to `address` have been sent, and returns them. */
  async waitFor(address: string, count = 1): Promise<SentMail[]> {
    return vi.waitFor(
      () => {
        const mails = mailbox.to(address);
        if (mails.length < count) throw new Error(`${mails.length} of ${count} mails to ${address} so far`);
        return mails;
      },
      { timeout: 5000, interval: 20 },
    );
  },
  /** Waits until no more mail to `address` can arrive (the queue has settled), then returns them. */
  async settled(address: string, quietMs = 300): Promise<SentMail[]> {
    let count = -1;
    for (;;) {
      const now = mailbox.to(address).length;
      if (now === count) return mailbox.to(address);
      count = now;
      await new Promise((resolve) => setTimeout(resolve, quietMs));
    }
  },
};

/** The token in a mail's link to `{APP_URL}/{page}?token=…`. */
export function tokenFrom(mail: SentMail, page: "verify-email" | "reset-password" | "undo-email-change"): string {
  const match = mail.text.match(new RegExp(`/${page}\\?token=([A-Za-z0-9_-]+)`));
  if (!match?.[1]) throw new Error(`no ${page} link in: ${mail.text}`);
  return match[1];
}
