import type { AppConfig, Bindings } from "../config";
import { MailDeliveryError, type MailTransport } from "./mail";

const RESEND_URL = "https://api.resend.com/emails";
const SEND_TIMEOUT_MS = 10_000;

/** The transport MAIL_TRANSPORT names. */
export function createMailTransport(config: AppConfig, env: Bindings): MailTransport {
  switch (config.mail.transport) {
    case "log":
      return logTransport(config.logLevel);
    case "cloudflare":
      return cloudflareTransport(env);
    case "resend":
      return resendTransport(config.mail.resendApiKey ?? "");
  }
}

/**
 * MAIL_TRANSPORT=log, what `npm start` uses: the whole mail, links included, printed to the
 * server's log instead of being sent. Straight to the console, not through the logger, whose
 * redaction would hide the very link a developer needs; so never use it where logs are shared.
 * A mail is news at the info level: LOG_LEVEL=warn or error prints none (the bench runs so).
 */
function logTransport(level: AppConfig["logLevel"]): MailTransport {
  return {
    name: "log",
    async send(mail, { from }) {
      if (level === "warn" || level === "error") return;
      console.log(
        [
          "┌── mail (MAIL_TRANSPORT=log: printed, not sent) ──",
          `│ From: ${from}`,
          `│ To: ${mail.to}`,
          `│ Subject: ${mail.subject}`,
          "│",
          ...mail.text.split("\n").map((line) => `│ ${line}`),
          "└──",
        ].join("\n"),
      );
    },
  };
}

/**
 * Cloudflare Email Service through the `send_email` binding (EMAIL), which `wrangler dev` simulates.
 * The binding takes no idempotency key, so the mail's id becomes its Message-ID, the same on every
 * retry: a retried send after a lost answer is the same message, which receiving servers and
 * clients collapse, not a second one.
 */
function cloudflareTransport(env: Bindings): MailTransport {
  return {
    name: "cloudflare",
    async send(mail, { from, idempotencyKey }) {
      const binding = (env as { EMAIL?: SendEmail }).EMAIL;
      if (!binding) throw new MailDeliveryError("MAIL_TRANSPORT=cloudflare needs the EMAIL send_email binding", false);
      try {
        await binding.send({
          from: emailAddress(from),
          to: mail.to,
          subject: mail.subject,
          text: mail.text,
          html: mail.html,
          headers: { "Message-ID": messageId(idempotencyKey, from) },
        });
      } catch (error) {
        // The binding does not say which failures are lasting; a later try costs little.
        throw new MailDeliveryError(`send_email: ${error instanceof Error ? error.message : String(error)}`, true);
      }
    },
  };
}

// RFC 5322 §3.6.4: `<unique@domain>`, the domain the sender's own.
function messageId(id: string, from: string): string {
  const address = /<([^<>]+)>$/.exec(from)?.[1] ?? from;
  return `<${id}@${address.split("@")[1] ?? "edge-users.invalid"}>`;
}

// MAIL_FROM's "Name <address>" as the binding's { name, email }; a bare address as it is.
function emailAddress(from: string): string | EmailAddress {
  const named = /^(.+?)\s*<([^<>]+)>$/.exec(from);
  return named?.[1] && named[2] ? { name: named[1], email: named[2] } : from;
}

/**
 * Resend's HTTP API. The queue message's id is the Idempotency-Key, so a message retried after a
 * send whose answer was lost is not sent twice (Resend keeps keys for 24 hours).
 */
function resendTransport(apiKey: string): MailTransport {
  return {
    name: "resend",
    async send(mail, { from, idempotencyKey }) {
      let response: Response;
      try {
        response = await fetch(RESEND_URL, {
          method: "POST",
          headers: {
            Authorization: `Bearer ${apiKey}`,
            "Content-Type": "application/json",
            "Idempotency-Key": idempotencyKey,
          },
          body: JSON.stringify({ from, to: [mail.to], subject: mail.subject, text: mail.text, html: mail.html }),
          signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
        });
      } catch (error) {
        throw new MailDeliveryError(
          `Resend unreachable: ${error instanceof Error ? error.message : String(error)}`,
          true,
        );
      }
      if (response.ok) {
        await response.body?.cancel();
        return;
      }
      const problem = (await response.json().catch(() => ({}))) as { name?: string; message?: string };
      const retryAfter = Number(response.headers.get("retry-after"));
      // Too many requests, a concurrent request with this key, or Resend's own failure: later.
      // Quota exhausted, a rejected sender or recipient, a bad key: never as it is.
      const retryable =
        response.status >= 500 ||
        problem.name === "rate_limit_exceeded" ||
        problem.name === "concurrent_idempotent_requests";
      throw new MailDeliveryError(
        `Resend answered ${response.status} ${problem.name ?? ""}: ${problem.message ?? ""}`.trim(),
        retryable,
        Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
      );
    },
  };
}
