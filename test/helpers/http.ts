/**
 * The HTTP client of the workerd tests: requests to the Worker as deployed, or to the same app
 * with bindings replaced, and readers for what a client sees (problems, Server-Timing).
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import type { Bindings } from "../../src/config";
import worker from "../../src/index";
import libsqlWorker from "../../src/index.libsql";
import { type BindingCounts, countingD1, countingKV } from "./bindings";
import { checkAgainstDocument } from "./contract";

export const BASE = "http://edge-users.test";

export type RequestOptions = { body?: unknown; token?: string; headers?: Record<string, string> };

/**
 * Each request comes from its own client address unless the test names one, so the per-address
 * rate limits only engage in the tests about them.
 */
function buildRequest(method: string, path: string, { body, token, headers = {} }: RequestOptions): Request {
  const address = `10.${randomOctet()}.${randomOctet()}.${randomOctet()}`;
  const init: RequestInit = { method, headers: { "CF-Connecting-IP": address, ...headers } };
  const requestHeaders = init.headers as Record<string, string>;
  if (token) requestHeaders.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    requestHeaders["Content-Type"] ??= "application/json";
    init.body = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
  }
  return new Request(`${BASE}${path}`, init);
}

function randomOctet(): number {
  return Math.floor(Math.random() * 256);
}

/** A request to the Worker as deployed: its default export, real bindings. */
export async function api(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
  const request = buildRequest(method, path, options);
  const response = await exports.default.fetch(request);
  await checkAgainstDocument({ method, url: request.url }, response);
  return response;
}

/** A request to the same app with some bindings or vars replaced (configuration, failing dependencies). */
export function apiWith(
  overrides: Partial<Record<keyof Bindings, unknown>>,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<Response> {
  return send(worker, overrides, method, path, options);
}

/** The same, to the libSQL build of the Worker (src/index.libsql.ts). */
export function libsqlApiWith(
  overrides: Partial<Record<keyof Bindings, unknown>>,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<Response> {
  return send(libsqlWorker, overrides, method, path, options);
}

async function send(
  to: typeof worker,
  overrides: Partial<Record<keyof Bindings, unknown>>,
  method: string,
  path: string,
  options: RequestOptions,
): Promise<Response> {
  const ctx = createExecutionContext();
  const request = buildRequest(method, path, options);
  const response = await to.fetch(request, { ...env, ...overrides } as Bindings, ctx);
  await waitOnExecutionContext(ctx);
  await checkAgainstDocument({ method, url: request.url }, response);
  return response;
}

/**
 * A stand-in for one Worker isolate: its own bindings object, hence its own memory tier, over the
 * same D1 and KV as every other. Each request waits for its deferred work (fills, purges).
 * The second purge runs after 100 ms (the smallest delay allowed) unless the test asks otherwise.
 */
export function isolate(overrides: Partial<Record<keyof Bindings, unknown>> = {}) {
  const counts: BindingCounts = { d1: 0, kvGet: 0, kvPut: 0, kvDelete: 0 };
  const bindings = {
    ...env,
    CACHE_REPURGE_DELAY_MS: "100",
    ...overrides,
    DB: countingD1((overrides.DB as D1Database | undefined) ?? env.DB, counts),
    CACHE: countingKV((overrides.CACHE as KVNamespace | undefined) ?? env.CACHE, counts),
  } as Bindings;
  return {
    counts,
    reset() {
      Object.assign(counts, { d1: 0, kvGet: 0, kvPut: 0, kvDelete: 0 });
    },
    async fetch(method: string, path: string, options: RequestOptions = {}) {
      const ctx = createExecutionContext();
      const request = buildRequest(method, path, options);
      const response = await worker.fetch(request, bindings, ctx);
      await waitOnExecutionContext(ctx);
      await checkAgainstDocument({ method, url: request.url }, response);
      return response;
    },
  };
}

/** Asserts a problem+json response and returns its body. */
export async function expectProblem(response: Response, status: number, type: string) {
  expect(response.status).toBe(status);
  expect(response.headers.get("Content-Type")).toBe("application/problem+json");
  const body = (await response.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ type, status, title: expect.any(String), instance: expect.stringMatching(/^\//) });
  expect(body.requestId).toBe(response.headers.get("X-Request-Id"));
  return body;
}

/** Server-Timing as a map: `cache;desc="hit-kv"` → { cache: { desc: "hit-kv" } }. */
export function serverTiming(response: Response): Record<string, { dur?: number; desc?: string }> {
  const metrics: Record<string, { dur?: number; desc?: string }> = {};
  for (const entry of (response.headers.get("Server-Timing") ?? "").split(",")) {
    const [name, ...params] = entry.trim().split(";");
    if (!name) continue;
    const metric: { dur?: number; desc?: string } = {};
    for (const param of params) {
      const [key, value = ""] = param.split("=");
      if (key === "dur") metric.dur = Number(value);
      if (key === "desc") metric.desc = value.replace(/^"|"$/g, "");
    }
    metrics[name] = metric;
  }
  return metrics;
}
