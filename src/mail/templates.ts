import { html } from "hono/html";
import type { Mail, MailJob } from "./mail";

/**
 * Every mail in plain text and HTML. Interpolated values are escaped in the HTML (hono/html's
 * `html` template), so a display name such as `<img src=x onerror=…>` arrives as text; the plain
 * text part is text by nature. Subjects hold no user-controlled value.
 */
export function renderMail(job: MailJob): Mail {
  switch (job.kind) {
    case "verify-email":
      return {
        to: job.to,
        subject: "Confirm your email address",
        text: [
          `Hello ${job.name},`,
          "",
          "Confirm that this is your email address by opening this link:",
          job.link,
          "",
          `The link works once, until ${when(job.expiresAt)}. If you did not ask for it, ignore this mail.`,
        ].join("\n"),
        html: page(html`<p>Hello ${job.name},</p>
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
          `Hello ${job.name},`,
          "",
          why,
          "Choose a new one by opening this link:",
          job.link,
          "",
          `The link works once, until ${when(job.expiresAt)}. Using it signs you out everywhere.`,
          "If you did not ask for it, ignore this mail: your password stays as it is.",
        ].join("\n"),
        html: page(html`<p>Hello ${job.name},</p>
<p>${why}</p>
<p><a href="${job.link}">Choose a new password</a></p>
<p>The link works once, until ${when(job.expiresAt)}. Using it signs you out everywhere.</p>
<p>If you did not ask for it, ignore this mail: your password stays as it is.</p>`),
      };
    }
    case "email-changed":
      return {
        to: job.to,
        subject: "Your email address was changed",
        text: [
          `Hello ${job.name},`,
          "",
          `The email address of your account was changed to ${job.newEmail} on ${when(job.changedAt)}.`,
          "If that was not you, reset your password and contact an administrator.",
        ].join("\n"),
        html: page(html`<p>Hello ${job.name},</p>
<p>The email address of your account was changed to ${job.newEmail} on ${when(job.changedAt)}.</p>
<p>If that was not you, reset your password and contact an administrator.</p>`),
      };
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
