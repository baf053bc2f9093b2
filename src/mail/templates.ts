import { html } from "hono/html";
import type { Mail, MailJob } from "./mail";

/**
 * Every mail in plain text and HTML. No mail quotes a display name or anything else a stranger can
 * choose: anyone may sign up with someone else's address and a "name" that reads like an order
 * from us ("your account is locked; restore it at https://…"), and the first line of a genuine
 * mail from our sender is where it would do harm. Mails open with a fixed greeting, links are
 * always ours (APP_URL), and the only user data quoted is the recipient's own address data, on
 * a line of its own after the message. Interpolated values are escaped in the HTML (hono/html's
 * `html`); subjects hold no user-controlled value.
 */
export function renderMail(job: MailJob): Mail {
  switch (job.kind) {
    case "verify-email":
      return {
        to: job.to,
        subject: "Confirm your email address",
        text: [
          "Hello,",
          "",
          "Confirm that this is your email address by opening this link:",
          job.link,
          "",
          `The link works once, until ${when(job.expiresAt)}. If you did not ask for it, ignore this mail.`,
        ].join("\n"),
        html: page(html`<p>Hello,</p>
<p>Confirm that this is your email address:</p>
<p><a href="${job.link}">Confirm my email address</a></p>
<p>The link works once, until ${when(job.expiresAt)}. If you did not ask for it, ignore this mail.</p>`),
      };
    case "reset-password": {
      const why = job.byAdmin
        ? "An administrator asked for a new password for your account."
        : "Someone, hopefully you, asked to reset your password.";
      return {
        to: job.to,
        subject: "Reset your password",
        text: [
          "Hello,",
          "",
          why,
          "Choose a new one by opening this link:",
          job.link,
          "",
          `The link works once, until ${when(job.expiresAt)}. Using it signs you out everywhere.`,
          "If you did not ask for it, ignore this mail: your password stays as it is.",
        ].join("\n"),
        html: page(html`<p>Hello,</p>
<p>${why}</p>
<p><a href="${job.link}">Choose a new password</a></p>
<p>The link works once, until ${when(job.expiresAt)}. Using it signs you out everywhere.</p>
<p>If you did not ask for it, ignore this mail: your password stays as it is.</p>`),
      };
    }
    case "email-changed": {
      const { undo } = job;
      const wayBack = undo
        ? [
            "If that was not you, undo the change with this link: it gives the account back to this address and signs out every session.",
            undo.link,
            `The link works once, until ${when(undo.expiresAt)}. Then choose a new password ("Forgot password") to be sure.`,
          ]
        : [
            "An administrator made this change. If you did not ask for it, contact the service's administrators: this address no longer signs in to the account.",
          ];
      return {
        to: job.to,
        subject: "Your email address was changed",
        text: [
          "Hello,",
          "",
          `The email address of your account was changed on ${when(job.changedAt)}. This address no longer receives its mail.`,
          ...wayBack,
          "",
          `The new address: ${job.newEmail}`,
        ].join("\n"),
        html: page(html`<p>Hello,</p>
<p>The email address of your account was changed on ${when(job.changedAt)}. This address no longer receives its mail.</p>
${
  undo
    ? html`<p>If that was not you, undo the change: it gives the account back to this address and signs out every session.</p>
<p><a href="${undo.link}">Undo the change</a></p>
<p>The link works once, until ${when(undo.expiresAt)}. Then choose a new password ("Forgot password") to be sure.</p>`
    : html`<p>${wayBack[0]}</p>`
}
<p>The new address: ${job.newEmail}</p>`),
      };
    }
  }
}

// "28 Nov 2026, 18:14 UTC": a time a reader takes in at a glance, the same wherever the mail is read.
const dateTime = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" });
function when(iso: string): string {
  return `${dateTime.format(new Date(iso))} UTC`;
}

function page(body: unknown): string {
  return String(html`<!doctype html><html lang="en"><body style="font-family: sans-serif">${body}</body></html>`);
}
