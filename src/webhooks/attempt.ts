/**
 * One delivery attempt of one message to one endpoint: checked against the URL policy again (an
 * endpoint saved before a policy change, or a name that now points inward), signed, POSTed with a
 * 10 s timeout and redirects not followed, and judged as Standard Webhooks advises: 2xx delivered;
 * 410 gone (the endpoint is disabled); anything else retried, after `Retry-After` where a 429 or
 * 503 gives one. The response body is never read.
 */
import { signedHeaders } from "./signature";
import { checkWebhookUrl, type UrlPolicy } from "./url-policy";

export const ATTEMPT_TIMEOUT_MS = 10_000;
/** Queues take a retry delay of at most 12 hours. */
const MAX_RETRY_AFTER_SECONDS = 43_200;

/** How the host sends an HTTP request: fetch on Workers; on Node, fetch over a connect-time address check. */
export type WebhookTransport = (
  url: URL,
  init: { method: "POST"; headers: Record<string, string>; body: string; signal: AbortSignal },
) => Promise<{ status: number; headers: Headers }>;

export type WebhookMessage = { id: string; type: string; timestamp: string; data: unknown };

export type AttemptOutcome = {
  result: "delivered" | "retry" | "gone" | "refused";
  responseStatus: number | null;
  durationMs: number;
  /** The receiver's Retry-After, in seconds (429 and 503 only). */
  retryAfterSeconds?: number;
  /** Why it failed, for the delivery log (never the response body). */
  error?: string;
};

export async function attemptDelivery(
  endpoint: { url: string; secret: string },
  message: WebhookMessage,
  { transport, policy, now = () => Date.now() }: { transport: WebhookTransport; policy: UrlPolicy; now?: () => number },
): Promise<AttemptOutcome> {
  const verdict = checkWebhookUrl(endpoint.url, policy);
  if (!verdict.ok) return { result: "refused", responseStatus: null, durationMs: 0, error: verdict.reason };
  const body = JSON.stringify({ type: message.type, timestamp: message.timestamp, data: message.data });
  const started = now();
  const headers = {
    "Content-Type": "application/json",
    "User-Agent": "edge-users-webhooks/1",
    ...(await signedHeaders(endpoint.secret, message.id, Math.floor(started / 1000), body)),
  };
  try {
    const response = await transport(verdict.url, {
      method: "POST",
      headers,
      body,
      signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
    });
    const durationMs = now() - started;
    const { status } = response;
    if (status >= 200 && status < 300) return { result: "delivered", responseStatus: status, durationMs };
    if (status === 410) return { result: "gone", responseStatus: status, durationMs, error: "410 Gone" };
    const retryAfterSeconds = status === 429 || status === 503 ? retryAfter(response.headers, now()) : undefined;
    const error = status >= 300 && status < 400 ? `redirect ${status} (not followed)` : `HTTP ${status}`;
    return {
      result: "retry",
      responseStatus: status,
      durationMs,
      error,
      ...(retryAfterSeconds ? { retryAfterSeconds } : {}),
    };
  } catch (error) {
    const durationMs = now() - started;
    const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
    return {
      result: "retry",
      responseStatus: null,
      durationMs,
      error: timedOut ? `no answer within ${ATTEMPT_TIMEOUT_MS / 1000} s` : `network error: ${errorName(error)}`,
    };
  }
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date), capped; undefined if absent or bad. */
function retryAfter(headers: Headers, nowMs: number): number | undefined {
  const value = headers.get("Retry-After")?.trim();
  if (!value) return undefined;
  const seconds = /^\d+$/.test(value) ? Number(value) : Math.ceil((Date.parse(value) - nowMs) / 1000);
  if (!Number.isFinite(seconds) || seconds <= 0) return undefined;
  return Math.min(seconds, MAX_RETRY_AFTER_SECONDS);
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.message.slice(0, 200) : "unknown";
}

/**
 * When attempt `n + 1` follows attempt `n` (1-based): 5 s, 1 min, 5 min, 30 min, 2 h, 5 h, 10 h,
 * 12 h, 12 h: ten attempts over about 41 hours, so a receiver down for a day still gets every
 * event. The second attempt comes within 30 s of the first and the third within 90 s.
 */
export const RETRY_DELAYS_SECONDS = [5, 60, 300, 1_800, 7_200, 18_000, 36_000, 43_200, 43_200] as const;
export const MAX_ATTEMPTS = RETRY_DELAYS_SECONDS.length + 1;

/** The delay before the next attempt after `attempt` failed, or null when it was the last. */
export function nextRetryDelaySeconds(attempt: number, outcome: AttemptOutcome): number | null {
  const scheduled = RETRY_DELAYS_SECONDS[attempt - 1];
  if (scheduled === undefined) return null;
  return Math.max(scheduled, outcome.retryAfterSeconds ?? 0);
}
