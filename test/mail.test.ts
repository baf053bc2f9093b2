/**
 * Mail delivery: the queue's consumer, its retries and dead-letter queue, the transports and the
 * templates. Resend's API is the one part stood in for (test/helpers/mailbox.ts); the queue is
 * Miniflare's, and the consumer is the Worker's own `queue` handler.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Bindings } from "../src/config";
import worker from "../src/index";
import { newId } from "../src/lib/ids";
import { createSealer } from "../src/lib/sealing";
import { generateToken, hashToken } from "../src/lib/tokens";
import type { MailJob, QueuedMail } from "../src/mail/mail";
import { renderMail } from "../src/mail/templates";
import { newUserBody, seedLinkToken, seedUser } from "./helpers/fixtures";
import { api, apiWith } from "./helpers/http";
import { mailbox, type SentMail, tokenFrom } from "./helpers/mailbox";

// Every line written to the console during a test: the consumer's warnings are asserted, not printed.
let logged: string[] = [];
beforeEach(() => {
  logged = [];
  for (const method of ["log", "info", "warn", "error", "debug"] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      logged.push(args.map(String).join(" "));
    });
  }
});
afterEach(() => vi.restoreAllMocks());

// A verification mail whose link is live: its token is stored, as the accounts service stores it.
async function job(to = `someone_${crypto.randomUUID()}@example.com`): Promise<MailJob> {
  const token = generateToken();
  const expiresAt = Date.now() + 86_400_000;
  await seedLinkToken(await seedUser(), "verify_email", await hashToken(token), expiresAt);
  return {
    kind: "verify-email",
    to,
    link: `http://localhost:8787/verify-email?token=${token}`,
    expiresAt: new Date(expiresAt).toISOString(),
  };
}

// What the mailer puts on the queue: the job sealed under APP_SECRET (or `secret`), bound to its id.
async function sealed(body: MailJob, secret = env.APP_SECRET as string, id = newId()): Promise<QueuedMail> {
  const sealer = createSealer({ current: secret }, "mail-queue");
  return { v: 1, id, kind: body.kind, sealed: await sealer.seal(JSON.stringify(body), id) };
}

// One message through the Worker's queue handler, as the queue would deliver it.
async function consume(
  body: MailJob | QueuedMail,
  { attempts = 1, queue = "edge-users-mail", vars = {} as Record<string, unknown> } = {},
) {
  const queued = "sealed" in body ? body : await sealed(body);
  const batch = createMessageBatch<QueuedMail>(queue, [{ id: "msg-1", timestamp: new Date(), attempts, body: queued }]);
  const message = batch.messages[0] as Message<QueuedMail>;
  const retry = vi.spyOn(message, "retry");
  const ack = vi.spyOn(message, "ack");
  const ctx = createExecutionContext();
  await worker.queue(batch as MessageBatch, { ...env, ...vars } as Bindings);
  const result = await getQueueResult(batch, ctx);
  return { result, retry, ack };
}

// The lines logged while `run` runs.
async function consoleDuring(run: (lines: string[]) => Promise<unknown>): Promise<string[]> {
  const from = logged.length;
  const lines = logged;
  await run(lines);
  return lines.slice(from);
}

describe("delivery through the queue", () => {
  it("a provider that fails twice, then works: the sign-up was answered at once, and the mail is sent once", async () => {
    const unavailable = () => ({ status: 503, body: { name: "internal_server_error", message: "down" } });
    mailbox.fail(unavailable, unavailable);
    const body = newUserBody();
    const res = await api("POST", "/api/users", { body });
    expect(res.status).toBe(201);
    const [mail] = await mailbox.waitFor(body.email);
    const attempts = mailbox.requests().filter((request) => request.to === body.email);
    expect(attempts).toHaveLength(3);
    // One queue message, one Idempotency-Key on every try.
    expect(new Set(attempts.map((attempt) => attempt.idempotencyKey)).size).toBe(1);
    expect(mail?.idempotencyKey).toBeTruthy();
    expect(mailbox.to(body.email)).toHaveLength(1);
    const retries = logged.filter((line) => line.includes("mail not sent; retrying"));
    expect(retries.map((line) => JSON.parse(line).attempt)).toEqual([1, 2]);
  });

  it("an answer lost after the provider took the mail: the retry repeats the key, and nothing is sent twice", async () => {
    mailbox.fail(() => ({ status: 500, body: { name: "internal_server_error" }, keep: true }));
    const body = newUserBody();
    await api("POST", "/api/users", { body });
    await vi.waitFor(() => expect(mailbox.requests().filter((r) => r.to === body.email)).toHaveLength(2), {
      timeout: 5000,
    });
    const [first, second] = mailbox.requests().filter((r) => r.to === body.email);
    expect(second?.idempotencyKey).toBe(first?.idempotencyKey);
    expect(await mailbox.settled(body.email)).toHaveLength(1);
  });

  it("a provider that never recovers: after the retries the message is dead-lettered and logged as lost, without its link", async () => {
    const unavailable = () => ({ status: 503, body: { name: "internal_server_error" } });
    mailbox.fail(unavailable, unavailable, unavailable);
    const body = newUserBody();
    const lines = await consoleDuring(async (lines) => {
      expect((await api("POST", "/api/users", { body })).status).toBe(201);
      await vi.waitFor(
        () => expect(lines.some((line) => line.includes("mail undeliverable: dead-lettered"))).toBe(true),
        { timeout: 4000 },
      );
    });
    // The first try and the two retries vitest.config.ts allows; none got through.
    expect(mailbox.requests().filter((r) => r.to === body.email)).toHaveLength(3);
    expect(await mailbox.settled(body.email)).toEqual([]);
    const lost = lines.find((line) => line.includes("dead-lettered")) as string;
    expect(JSON.parse(lost)).toMatchObject({ level: "error", kind: "verify-email", messageId: expect.any(String) });
    expect(lines.filter((line) => line.includes("mail not sent; retrying"))).toHaveLength(3);
    expect(lines.join("\n")).not.toMatch(/token=|verify-email\?/);
  });

  it("a mail the provider refuses for good (422) is dropped at once, not retried", async () => {
    mailbox.fail(() => ({ status: 422, body: { name: "validation_error", message: "Invalid `to` field." } }));
    const { result, retry, ack } = await consume(await job());
    expect(ack).toHaveBeenCalledOnce();
    expect(retry).not.toHaveBeenCalled();
    expect(result.explicitAcks).toEqual(["msg-1"]);
    expect(logged.some((line) => line.includes("mail undeliverable: the provider refused it"))).toBe(true);
  });

  it("backs off exponentially from MAIL_RETRY_BASE_DELAY_SECONDS, capped at an hour, or waits as long as the provider says", async () => {
    const vars = { MAIL_RETRY_BASE_DELAY_SECONDS: "30" };
    const delays = [];
    for (const attempts of [1, 2, 3, 9]) {
      mailbox.fail(() => ({ status: 503 }));
      const { retry } = await consume(await job(), { attempts, vars });
      delays.push(retry.mock.calls[0]?.[0]?.delaySeconds);
    }
    expect(delays).toEqual([30, 60, 120, 3600]);

    mailbox.fail(() => ({ status: 429, body: { name: "rate_limit_exceeded" }, headers: { "Retry-After": "7" } }));
    const { retry } = await consume(await job(), { vars });
    expect(retry).toHaveBeenCalledWith({ delaySeconds: 7 });
  });

  it("the dead-letter queue's consumer acknowledges and sends nothing", async () => {
    const to = `dead_${crypto.randomUUID()}@example.com`;
    const { result, ack } = await consume(await job(to), { queue: "edge-users-mail-dlq" });
    expect(ack).toHaveBeenCalledOnce();
    expect(result.explicitAcks).toEqual(["msg-1"]);
    expect(mailbox.requests().filter((r) => r.to === to)).toEqual([]);
  });

  it("an invalid configuration: the batch waits 5 minutes for a fix; the dead-letter consumer still acknowledges", async () => {
    const broken = { APP_SECRET: "too short" };
    const batch = createMessageBatch<QueuedMail>("edge-users-mail", [
      { id: "msg-1", timestamp: new Date(), attempts: 1, body: await sealed(await job()) },
    ]);
    const retryAll = vi.spyOn(batch, "retryAll");
    await worker.queue(batch as MessageBatch, { ...env, ...broken } as Bindings);
    expect(retryAll).toHaveBeenCalledWith({ delaySeconds: 300 });
    expect(logged.some((line) => line.includes("the configuration is invalid"))).toBe(true);

    const { ack } = await consume(await job(), { queue: "edge-users-mail-dlq", vars: broken });
    expect(ack).toHaveBeenCalledOnce();
  });

  it("a queue that refuses the message never fails the request: the sign-up is stored and answered 201", async () => {
    const downQueue = { send: () => Promise.reject(new Error("queue unavailable")) };
    const body = newUserBody();
    const lines = await consoleDuring(async () => {
      const res = await apiWith({ MAIL_QUEUE: downQueue }, "POST", "/api/users", { body });
      expect(res.status).toBe(201);
    });
    expect(lines.some((line) => line.includes("mailing a verification link failed"))).toBe(true);
    const reset = await apiWith({ MAIL_QUEUE: downQueue }, "POST", "/api/auth/password-reset", {
      body: { email: body.email },
    });
    expect(reset.status).toBe(202);
  });

  it("sends with the Resend API key, the configured sender, and both parts", async () => {
    const body = newUserBody();
    await api("POST", "/api/users", { body });
    const [mail] = await mailbox.waitFor(body.email);
    expect(mail?.apiKey).toBe("Bearer re_test_key");
    expect(mail?.from).toBe("edge-users <no-reply@edge-users.example>");
    expect(mail?.html).toContain('<a href="http://localhost:8787/verify-email?token=');
  });
});

describe("transports", () => {
  it("log: prints the whole mail, link included, to the server's log", async () => {
    const mail = await job("log@example.com");
    const lines = await consoleDuring(() => consume(mail, { vars: { MAIL_TRANSPORT: "log" } }));
    const printed = lines.find((line) => line.includes("MAIL_TRANSPORT=log")) as string;
    expect(printed).toContain("To: log@example.com");
    expect(printed).toContain("Subject: Confirm your email address");
    expect(printed).toContain((mail as { link: string }).link);
  });

  it("log: at LOG_LEVEL=warn, prints nothing", async () => {
    const mail = await job();
    const lines = await consoleDuring(() => consume(mail, { vars: { MAIL_TRANSPORT: "log", LOG_LEVEL: "warn" } }));
    expect(lines.filter((line) => line.includes("MAIL_TRANSPORT=log"))).toEqual([]);
  });

  it("cloudflare: hands from, to, subject, text, html and a Message-ID to the send_email binding", async () => {
    const send = vi.spyOn(env.EMAIL, "send");
    const queued = await sealed(await job("cf@example.com"));
    const { ack } = await consume(queued, { vars: { MAIL_TRANSPORT: "cloudflare" } });
    expect(ack).toHaveBeenCalledOnce();
    expect(send).toHaveBeenCalledWith({
      from: { name: "edge-users", email: "no-reply@edge-users.example" },
      to: "cf@example.com",
      subject: "Confirm your email address",
      text: expect.stringContaining("/verify-email?token="),
      html: expect.stringContaining("<a href="),
      headers: { "Message-ID": `<${queued.id}@edge-users.example>` },
    });
  });

  it("cloudflare: a retried message keeps its Message-ID, so a send whose answer was lost is not a second mail", async () => {
    const send = vi.spyOn(env.EMAIL, "send").mockRejectedValueOnce(new Error("answer lost"));
    const queued = await sealed(await job());
    await consume(queued, { vars: { MAIL_TRANSPORT: "cloudflare" } });
    await consume(queued, { attempts: 2, vars: { MAIL_TRANSPORT: "cloudflare" } });
    const ids = send.mock.calls.map((call) => (call[0] as { headers: Record<string, string> }).headers["Message-ID"]);
    expect(ids).toEqual([`<${queued.id}@edge-users.example>`, `<${queued.id}@edge-users.example>`]);
  });

  it("cloudflare: a bare MAIL_FROM address is passed as it is", async () => {
    const send = vi.spyOn(env.EMAIL, "send");
    const queued = await sealed(await job());
    await consume(queued, { vars: { MAIL_TRANSPORT: "cloudflare", MAIL_FROM: "auth@example.com" } });
    expect(send.mock.calls[0]?.[0]).toMatchObject({
      from: "auth@example.com",
      headers: { "Message-ID": `<${queued.id}@example.com>` },
    });
  });

  it("cloudflare: a binding that throws is retried", async () => {
    vi.spyOn(env.EMAIL, "send").mockRejectedValueOnce(new Error("temporarily unavailable"));
    const { retry, ack } = await consume(await job(), { vars: { MAIL_TRANSPORT: "cloudflare" } });
    expect(retry).toHaveBeenCalledOnce();
    expect(ack).not.toHaveBeenCalled();
  });

  it("MAIL_TRANSPORT=resend without RESEND_API_KEY is a configuration error naming the secret", async () => {
    const res = await apiWith({ MAIL_TRANSPORT: "resend", RESEND_API_KEY: undefined }, "GET", "/health");
    expect(res.status).toBe(500);
    const lines = await consoleDuring(() =>
      apiWith({ MAIL_TRANSPORT: "resend", RESEND_API_KEY: "" }, "GET", "/health"),
    );
    expect(lines.join("\n")).toContain("RESEND_API_KEY");
  });
});

describe("MAIL_TRANSPORT=log outside this machine", () => {
  it("is a configuration error: links would land in a shared log", async () => {
    // The production hash cost: the tests' low one is refused with a public APP_URL too.
    const standard = { PASSWORD_HASH_COST: "standard" };
    const lines = await consoleDuring(async () => {
      const res = await apiWith(
        { ...standard, MAIL_TRANSPORT: "log", APP_URL: "https://app.example.com" },
        "GET",
        "/health",
      );
      expect(res.status).toBe(500);
    });
    expect(lines.join("\n")).toContain("MAIL_TRANSPORT=log prints every link");
    const outside = await apiWith(
      { ...standard, MAIL_TRANSPORT: "log", APP_URL: "http://127.example.com" },
      "GET",
      "/health",
    );
    expect(outside.status).toBe(500);
    for (const url of ["http://localhost:8787", "http://127.0.0.1:9000", "http://[::1]:8787"]) {
      expect((await apiWith({ ...standard, MAIL_TRANSPORT: "log", APP_URL: url }, "GET", "/health")).status).toBe(200);
    }
    expect((await apiWith({ ...standard, APP_URL: "https://app.example.com" }, "GET", "/health")).status).toBe(200);
  });
});

describe("templates", () => {
  const hostile = "<img src=x onerror=alert(1)>";
  const bait = "Your account is locked; restore it at https://evil.example/restore";

  it("every interpolated value is escaped in the HTML part", () => {
    const jobs: MailJob[] = [
      {
        kind: "reset-password",
        to: "a@example.com",
        link: 'https://x.example/reset-password?token=a"><script>',
        expiresAt: new Date().toISOString(),
        byAdmin: false,
      },
      {
        kind: "email-changed",
        to: "a@example.com",
        newEmail: `"><b>x</b>${hostile}@example.com`,
        changedAt: new Date().toISOString(),
        undo: { link: 'https://x.example/undo-email-change?token="><script>', expiresAt: new Date().toISOString() },
      },
    ];
    for (const mail of jobs.map(renderMail)) {
      expect(mail.html).not.toMatch(/<img|<script|<b>/);
      expect(mail.subject).not.toContain("<");
    }
  });

  it("a display name chosen by whoever signed up with an address never reaches that address's mail", async () => {
    const body = newUserBody({ name: bait });
    expect((await api("POST", "/api/users", { body })).status).toBe(201);
    const [mail] = await mailbox.waitFor(body.email);
    expect(mail?.text.split("\n")[0]).toBe("Hello,");
    expect(mail?.text).not.toContain("locked");
    expect(mail?.html).not.toContain("evil.example");
    // The one link in the mail is ours.
    expect(mail?.html.match(/href="([^"]+)"/g)).toEqual([expect.stringMatching(/^href="http:\/\/localhost:8787\//)]);
  });

  it("an email change notice opens with the fixed greeting; the new address is quoted last, as text", () => {
    const mail = renderMail({
      kind: "email-changed",
      to: "old@example.com",
      newEmail: "new@example.com",
      changedAt: new Date().toISOString(),
    });
    const lines = mail.text.split("\n");
    expect(lines[0]).toBe("Hello,");
    expect(lines.at(-1)).toBe("The new address: new@example.com");
    expect(mail.html).not.toContain("mailto:");
    expect(mail.text).toMatch(/administrator made this change/);
  });
});

describe("the queue holds no live link", () => {
  // A queue that keeps what it is given (the real one's messages cannot be read back).
  function recordingQueue() {
    const messages: unknown[] = [];
    return { messages, send: async (body: unknown) => void messages.push(body) };
  }

  it("a sign-up's mail is queued sealed: no link, token or address in clear, only its id and kind", async () => {
    const queue = recordingQueue();
    const body = newUserBody();
    expect((await apiWith({ MAIL_QUEUE: queue }, "POST", "/api/users", { body })).status).toBe(201);
    await vi.waitFor(() => expect(queue.messages).toHaveLength(1));
    const [message] = queue.messages as QueuedMail[];
    expect(Object.keys(message ?? {}).sort()).toEqual(["id", "kind", "sealed", "v"]);
    expect(message).toMatchObject({ v: 1, kind: "verify-email" });
    const text = JSON.stringify(message);
    expect(text).not.toMatch(/token=|verify-email\?|http/);
    expect(text).not.toContain(body.email);
    // The consumer opens it and sends it, as if the queue had delivered it.
    const { ack } = await consume(message as QueuedMail);
    expect(ack).toHaveBeenCalledOnce();
    expect(await mailbox.waitFor(body.email)).toHaveLength(1);
  });

  it("a message whose link was used or voided since it was queued is dropped, not sent", async () => {
    const to = `voided_${crypto.randomUUID()}@example.com`;
    const mail = await job(to);
    const token = new URL((mail as { link: string }).link).searchParams.get("token") ?? "";
    await env.DB.prepare("delete from email_tokens where token_hash = ?")
      .bind(await hashToken(token))
      .run();
    const { ack, retry } = await consume(mail);
    expect(ack).toHaveBeenCalledOnce();
    expect(retry).not.toHaveBeenCalled();
    expect(mailbox.requests().filter((request) => request.to === to)).toEqual([]);
    expect(logged.some((line) => line.includes("mail dropped: its link was used, voided or has expired"))).toBe(true);
  });

  it("sealed under the previous APP_SECRET: opened with APP_SECRET_PREVIOUS and sent; without it, dropped and logged", async () => {
    const previous = env.APP_SECRET as string;
    const rotated = { APP_SECRET: "a brand new application secret for rotation", APP_SECRET_PREVIOUS: previous };
    const to = `rotated_${crypto.randomUUID()}@example.com`;
    const queued = await sealed(await job(to), previous);
    const { ack } = await consume(queued, { vars: rotated });
    expect(ack).toHaveBeenCalledOnce();
    expect(await mailbox.waitFor(to)).toHaveLength(1);

    const lost = `lost_${crypto.randomUUID()}@example.com`;
    const { ack: dropped } = await consume(await sealed(await job(lost), previous), {
      vars: { APP_SECRET: rotated.APP_SECRET },
    });
    expect(dropped).toHaveBeenCalledOnce();
    expect(mailbox.requests().filter((request) => request.to === lost)).toEqual([]);
    expect(logged.some((line) => line.includes("does not open under APP_SECRET"))).toBe(true);
  });

  it("the provider's idempotency key is the mail's own id, the same on every retry", async () => {
    mailbox.fail(() => ({ status: 503 }));
    const to = `retry_${crypto.randomUUID()}@example.com`;
    const queued = await sealed(await job(to));
    await consume(queued);
    await consume(queued, { attempts: 2 });
    expect(
      mailbox
        .requests()
        .filter((r) => r.to === to)
        .map((r) => r.idempotencyKey),
    ).toEqual([queued.id, queued.id]);
  });
});

describe("logs", () => {
  it("no token of a link appears in any log line of the sign-up, verification and reset flows (resend transport)", async () => {
    const body = newUserBody();
    const tokens: string[] = [];
    const lines = await consoleDuring(async () => {
      await api("POST", "/api/users", { body });
      const [verify] = await mailbox.waitFor(body.email, 1);
      tokens.push(tokenFrom(verify as SentMail, "verify-email"));
      await api("POST", "/api/auth/email-verification/confirm", { body: { token: tokens[0] } });
      await api("POST", "/api/auth/password-reset", { body: { email: body.email } });
      const reset = (await mailbox.waitFor(body.email, 2))[1];
      tokens.push(tokenFrom(reset as SentMail, "reset-password"));
      await api("POST", "/api/auth/password-reset/confirm", {
        body: { token: tokens[1], password: "a brand new passphrase" },
      });
      // A spent link, used again: the refusal is logged too.
      await api("POST", "/api/auth/password-reset/confirm", {
        body: { token: tokens[1], password: "a brand new passphrase" },
      });
    });
    expect(lines.length).toBeGreaterThan(5);
    for (const token of tokens) expect(lines.join("\n")).not.toContain(token);
  });
});
