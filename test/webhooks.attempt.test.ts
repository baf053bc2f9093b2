/**
 * One delivery attempt (src/webhooks/attempt.ts): signed as Standard Webhooks says (verified with
 * the `standardwebhooks` library a receiver would use), and judged by the receiver's answer.
 */
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import {
  ATTEMPT_TIMEOUT_MS,
  attemptDelivery,
  MAX_ATTEMPTS,
  nextRetryDelaySeconds,
  RETRY_DELAYS_SECONDS,
  type WebhookTransport,
} from "../src/webhooks/attempt";
import { newWebhookSecret } from "../src/webhooks/signature";

const message = {
  id: "0197a8c4-0000-7000-8000-0000000000aa",
  type: "user.created",
  timestamp: "2026-12-03T06:00:00.000Z",
  data: { a: 1 },
};
const strict = { allowLoopback: false };

function answering(status: number, headers: Record<string, string> = {}) {
  const seen: { url: string; headers: Record<string, string>; body: string }[] = [];
  const transport: WebhookTransport = async (url, init) => {
    seen.push({ url: url.toString(), headers: init.headers, body: init.body });
    return { status, headers: new Headers(headers) };
  };
  return { seen, transport };
}

describe("attemptDelivery", () => {
  it("signs each attempt so that the standardwebhooks library verifies it", async () => {
    const secret = newWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const { seen, transport } = answering(204);
    const outcome = await attemptDelivery({ url: "https://hooks.example.com/in", secret }, message, {
      transport,
      policy: strict,
    });
    expect(outcome).toMatchObject({ result: "delivered", responseStatus: 204 });
    const [request] = seen;
    expect(request?.headers["webhook-id"]).toBe(message.id);
    expect(JSON.parse(request?.body ?? "")).toEqual({
      type: "user.created",
      timestamp: message.timestamp,
      data: { a: 1 },
    });
    const verified = new Webhook(secret).verify(request?.body ?? "", request?.headers ?? {});
    expect(verified).toEqual({ type: "user.created", timestamp: message.timestamp, data: { a: 1 } });
    // Another secret does not verify it.
    expect(() => new Webhook(newWebhookSecret()).verify(request?.body ?? "", request?.headers ?? {})).toThrow();
  });

  it("410 is gone; 3xx, 4xx and 5xx are retried; Retry-After counts on 429 and 503 only", async () => {
    const endpoint = { url: "https://hooks.example.com/in", secret: newWebhookSecret() };
    const run = (status: number, headers?: Record<string, string>) =>
      attemptDelivery(endpoint, message, { transport: answering(status, headers).transport, policy: strict });
    expect(await run(410)).toMatchObject({ result: "gone" });
    expect(await run(302, { Location: "https://elsewhere.example.com" })).toMatchObject({
      result: "retry",
      error: "redirect 302 (not followed)",
    });
    expect(await run(500)).toMatchObject({ result: "retry", responseStatus: 500 });
    expect(await run(429, { "Retry-After": "120" })).toMatchObject({ result: "retry", retryAfterSeconds: 120 });
    expect(await run(503, { "Retry-After": "999999" })).toMatchObject({ retryAfterSeconds: 43_200 });
    expect((await run(500, { "Retry-After": "120" })).retryAfterSeconds).toBeUndefined();
  });

  it("a network error or a receiver that never answers is a retry, never a thrown error", async () => {
    const endpoint = { url: "https://hooks.example.com/in", secret: newWebhookSecret() };
    const failing: WebhookTransport = async () => {
      throw new TypeError("connection refused");
    };
    expect(await attemptDelivery(endpoint, message, { transport: failing, policy: strict })).toMatchObject({
      result: "retry",
      responseStatus: null,
      error: "network error: connection refused",
    });
    let signal: AbortSignal | undefined;
    const hanging: WebhookTransport = (_url, init) => {
      signal = init.signal;
      return Promise.reject(Object.assign(new Error("timed out"), { name: "TimeoutError" }));
    };
    expect(await attemptDelivery(endpoint, message, { transport: hanging, policy: strict })).toMatchObject({
      result: "retry",
      error: `no answer within ${ATTEMPT_TIMEOUT_MS / 1000} s`,
    });
    expect(signal).toBeInstanceOf(AbortSignal);
  });

  it("a URL the policy refuses now is not fetched at all", async () => {
    const { seen, transport } = answering(200);
    const outcome = await attemptDelivery({ url: "https://169.254.169.254/", secret: newWebhookSecret() }, message, {
      transport,
      policy: strict,
    });
    expect(outcome).toMatchObject({ result: "refused" });
    expect(seen).toEqual([]);
  });
});

describe("the retry schedule", () => {
  it("second attempt within 30 s, third within 90 s of the first, at least 5 attempts, over more than a day", () => {
    expect(RETRY_DELAYS_SECONDS[0]).toBeLessThanOrEqual(30);
    expect((RETRY_DELAYS_SECONDS[0] ?? 0) + (RETRY_DELAYS_SECONDS[1] ?? 0)).toBeLessThanOrEqual(90);
    expect(MAX_ATTEMPTS).toBeGreaterThanOrEqual(5);
    expect(RETRY_DELAYS_SECONDS.reduce((sum, delay) => sum + delay, 0)).toBeGreaterThan(86_400);
    const outcome = { result: "retry" as const, responseStatus: 503, durationMs: 1 };
    expect(nextRetryDelaySeconds(1, { ...outcome, retryAfterSeconds: 600 })).toBe(600);
    expect(nextRetryDelaySeconds(1, outcome)).toBe(5);
    expect(nextRetryDelaySeconds(MAX_ATTEMPTS, outcome)).toBeNull();
  });
});
