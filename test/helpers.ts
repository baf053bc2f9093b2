import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import { app } from "../src/app";
import { createSessionsRepository } from "../src/auth/sessions.repository";
import { createD1Database } from "../src/db/d1";
import type { Bindings } from "../src/env";
import { newId } from "../src/lib/ids";
import { createPasswordHasher } from "../src/lib/password";
import { generateSessionToken, hashSessionToken } from "../src/lib/tokens";
import type { Role, User, UserStatus } from "../src/users/users.model";
import { newUserRow } from "../src/users/users.model";
import { createUsersRepository } from "../src/users/users.repository";

export const BASE = "http://edge-users.test";
export const PASSWORD = "correct horse battery staple";

export const db = createD1Database(env.DB);
export const usersRepository = createUsersRepository(db);
export const sessionsRepository = createSessionsRepository(db);
export const hasher = createPasswordHasher();

type RequestOptions = { body?: unknown; token?: string; headers?: Record<string, string> };

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
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  return new Request(`${BASE}${path}`, init);
}

function randomOctet(): number {
  return Math.floor(Math.random() * 256);
}

/** A request to the Worker as deployed: its default export, real bindings. */
export function api(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
  return exports.default.fetch(buildRequest(method, path, options));
}

/** A request to the same app with some bindings or vars replaced (configuration, failing dependencies). */
export async function apiWith(
  overrides: Partial<Record<keyof Bindings, unknown>>,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await app.fetch(buildRequest(method, path, options), { ...env, ...overrides } as Bindings, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

let counter = 0;
/** A suffix that keeps fixtures of tests sharing one file's database from colliding. */
export function unique(): string {
  counter += 1;
  return `${counter}_${crypto.randomUUID().slice(0, 8)}`;
}

export function newUserBody(overrides: Record<string, unknown> = {}) {
  const suffix = unique();
  return {
    email: `user_${suffix}@example.com`,
    username: `u_${suffix}`,
    name: "Test User",
    password: PASSWORD,
    ...overrides,
  };
}

let passwordHash: Promise<string> | undefined;

/** Inserts a user through the repository (one PBKDF2 per file, not per user). */
export async function seedUser(options: { role?: Role; status?: UserStatus; createdAt?: Date; name?: string } = {}) {
  passwordHash ??= hasher.hash(PASSWORD);
  const suffix = unique();
  const createdAt = options.createdAt ?? new Date();
  const user = {
    email: `seed_${suffix}@example.com`,
    username: `seed_${suffix}`,
    name: options.name ?? "Seeded User",
    role: options.role,
    status: options.status,
  };
  return usersRepository.insert(newUserRow(user, await passwordHash, createdAt));
}

/** A session for the user, as login would make it; returns the bearer token. */
export async function seedSession(user: Pick<User, "id">, expiresAt = new Date(Date.now() + 3_600_000)) {
  const token = generateSessionToken();
  const id = newId();
  await sessionsRepository.insert({
    id,
    userId: user.id,
    tokenHash: await hashSessionToken(token),
    createdAt: new Date(),
    expiresAt,
  });
  return { token, sessionId: id };
}

/** A user with a live session: the usual caller in route tests. */
export async function signedIn(role: Role = "member") {
  const user = await seedUser({ role });
  const { token, sessionId } = await seedSession(user);
  return { user, token, sessionId };
}

/** Every row of every table, to prove a rejected request changed nothing. */
export async function snapshot() {
  const [users, sessions, stalePurges, idempotencyKeys] = await Promise.all([
    env.DB.prepare("select * from users order by id").all(),
    env.DB.prepare("select * from sessions order by id").all(),
    env.DB.prepare("select * from stale_purges order by key").all(),
    env.DB.prepare("select * from idempotency_keys order by scope, key").all(),
  ]);
  return {
    users: users.results,
    sessions: sessions.results,
    stalePurges: stalePurges.results,
    idempotencyKeys: idempotencyKeys.results,
  };
}

/** A session made by signing in through the API, so its KV entry exists as in production. */
export async function signedInThroughApi(role: Role = "member") {
  const user = await seedUser({ role });
  const res = await api("POST", "/api/auth/login", { body: { email: user.email, password: PASSWORD } });
  const { token } = (await res.json()) as { token: string };
  return { user, token };
}

export async function userRow(id: string) {
  return env.DB.prepare("select * from users where id = ?").bind(id).first<Record<string, unknown>>();
}

export async function sessionCount(userId: string): Promise<number> {
  const row = await env.DB.prepare("select count(*) as n from sessions where user_id = ?")
    .bind(userId)
    .first<{ n: number }>();
  return row?.n ?? 0;
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

/** A D1 binding whose every query fails the way D1 does when it is unreachable. */
export function failingD1(message = "D1_ERROR: Network connection lost."): D1Database {
  const fail = () => Promise.reject(new Error(message));
  const statement = { bind: () => statement, first: fail, all: fail, run: fail, raw: fail };
  return { prepare: () => statement, batch: fail, exec: fail, dump: fail } as unknown as D1Database;
}

/** A KV binding whose every operation fails. */
export function failingKV(): KVNamespace {
  const fail = () => Promise.reject(new Error("KV GET failed: 503 Service Unavailable"));
  return { get: fail, getWithMetadata: fail, put: fail, delete: fail, list: fail } as unknown as KVNamespace;
}

/** Calls each binding method makes, counted outside the application's own instrumentation. */
export type BindingCounts = { d1: number; kvGet: number; kvPut: number; kvDelete: number };

function countingD1(binding: D1Database, counts: BindingCounts): D1Database {
  const statement = (inner: D1PreparedStatement): D1PreparedStatement => {
    const counted = (run: () => Promise<unknown>) => {
      counts.d1++;
      return run();
    };
    return {
      inner,
      bind: (...values: unknown[]) => statement(inner.bind(...values)),
      first: (column?: string) => counted(() => (column ? inner.first(column) : inner.first())),
      all: () => counted(() => inner.all()),
      run: () => counted(() => inner.run()),
      raw: (options?: { columnNames?: boolean }) => counted(() => inner.raw(options as { columnNames: false })),
    } as unknown as D1PreparedStatement;
  };
  return {
    prepare: (query: string) => statement(binding.prepare(query)),
    batch: (statements: (D1PreparedStatement & { inner?: D1PreparedStatement })[]) => {
      counts.d1 += statements.length;
      return binding.batch(statements.map((s) => s.inner ?? s));
    },
    exec: (query: string) => binding.exec(query),
  } as unknown as D1Database;
}

function countingKV(binding: KVNamespace, counts: BindingCounts): KVNamespace {
  return {
    get: (key: string, type?: unknown) => {
      counts.kvGet++;
      return binding.get(key, type as "text");
    },
    put: (key: string, value: string, options?: KVNamespacePutOptions) => {
      counts.kvPut++;
      return binding.put(key, value, options);
    },
    delete: (key: string) => {
      counts.kvDelete++;
      return binding.delete(key);
    },
  } as unknown as KVNamespace;
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
      const response = await app.fetch(buildRequest(method, path, options), bindings, ctx);
      await waitOnExecutionContext(ctx);
      return response;
    },
  };
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

/** A D1 binding that never answers (a hung connection). */
export function hangingD1(): D1Database {
  const never = () => new Promise(() => {});
  const statement = { bind: () => statement, first: never, all: never, run: never, raw: never };
  return { prepare: () => statement, batch: never, exec: never } as unknown as D1Database;
}

/**
 * The real D1 for reads, failing every write the way an unreachable primary does: what a
 * request meets when D1 goes down between its reads and its write.
 */
export function d1RefusingWrites(binding: D1Database = env.DB): D1Database {
  const refuse = () => Promise.reject(new Error("D1_ERROR: Network connection lost."));
  const isWrite = (query: string) => /^\s*(insert|update|delete|replace)/i.test(query);
  const wrap = (inner: D1PreparedStatement, write: boolean): D1PreparedStatement =>
    ({
      inner,
      bind: (...values: unknown[]) => wrap(inner.bind(...values), write),
      first: (column?: string) => (write ? refuse() : column ? inner.first(column) : inner.first()),
      all: () => (write ? refuse() : inner.all()),
      run: () => (write ? refuse() : inner.run()),
      raw: (options?: { columnNames?: boolean }) => (write ? refuse() : inner.raw(options as { columnNames: false })),
    }) as unknown as D1PreparedStatement;
  return {
    prepare: (query: string) => wrap(binding.prepare(query), isWrite(query)),
    batch: refuse,
    exec: refuse,
  } as unknown as D1Database;
}

/** The real D1 for single statements, failing every batch: a write that fails at its atomic step. */
export function d1RefusingBatches(binding: D1Database = env.DB): D1Database {
  return {
    prepare: (query: string) => binding.prepare(query),
    batch: () => Promise.reject(new Error("D1_ERROR: Network connection lost.")),
    exec: (query: string) => binding.exec(query),
  } as unknown as D1Database;
}
