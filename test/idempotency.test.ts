import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { requestFingerprint } from "../src/idempotency/idempotency.service";
import { deriveHmacKey, hmac } from "../src/lib/keys";
import { sha256 } from "../src/lib/tokens";
import { d1RefusingBatches } from "./helpers/bindings";
import { newUserBody, signedIn, snapshot } from "./helpers/fixtures";
import { api, apiWith, expectProblem } from "./helpers/http";

let lastOctet = 0;
/** A client address of its own for each test (the anonymous sign-up limit is per address). */
function newClient(): string {
  lastOctet += 1;
  return `192.0.2.${lastOctet}`;
}

afterEach(() => vi.restoreAllMocks());

const create = (body: unknown, key: string, address: string) =>
  api("POST", "/api/users", { body, headers: { "Idempotency-Key": key, "CF-Connecting-IP": address } });

async function usersWithEmail(email: string): Promise<number> {
  const row = await env.DB.prepare("select count(*) as n from users where email = ?")
    .bind(email)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

/** The fingerprint the Worker stores for a sign-up with this body (keyed by the test APP_SECRET). */
async function fingerprintOf(body: unknown) {
  const key = await deriveHmacKey(env.APP_SECRET as string, "idempotency-fingerprint");
  return requestFingerprint(key, { method: "POST", path: "/api/users", body });
}

async function record(key: string) {
  return env.DB.prepare("select * from idempotency_keys where key = ?").bind(key).first<Record<string, unknown>>();
}

describe("Idempotency-Key on POST /api/users", () => {
  it("a retry with the same key and body returns the first response and creates nothing new", async () => {
    const [body, key, client] = [newUserBody(), crypto.randomUUID(), newClient()];
    const first = await create(body, `"${key}"`, client);
    expect(first.status).toBe(201);
    const retry = await create(body, `"${key}"`, client);
    expect(retry.status).toBe(201);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    expect(first.headers.get("Idempotent-Replayed")).toBeNull();
    for (const header of ["Location", "ETag", "Cache-Control"])
      expect(retry.headers.get(header)).toBe(first.headers.get(header));
    expect(await retry.json()).toEqual(await first.json());
    expect(await usersWithEmail(body.email)).toBe(1);
  });

  it("the response is stored in the same write as the user", async () => {
    const [body, key, client] = [newUserBody(), crypto.randomUUID(), newClient()];
    const res = await create(body, key, client);
    const { id } = (await res.json()) as { id: string };
    expect(await record(key)).toMatchObject({
      scope: `ip:${client}`,
      state: "completed",
      response_status: 201,
      response_body: expect.stringContaining(id),
      expires_at: expect.any(Number),
    });
    const stored = await record(key);
    expect(Number(stored?.expires_at) - Number(stored?.created_at)).toBe(24 * 60 * 60 * 1000);
    expect(String(stored?.response_body)).not.toMatch(/password/i);
  });

  it("the same key with a different body → 422, nothing created", async () => {
    const [key, client] = [crypto.randomUUID(), newClient()];
    expect((await create(newUserBody(), key, client)).status).toBe(201);
    const before = await snapshot();
    await expectProblem(await create(newUserBody(), key, client), 422, "/problems/unprocessable");
    expect(await snapshot()).toEqual(before);
  });

  it("a duplicate while the first is still in flight → 409, nothing created", async () => {
    const [body, key, client] = [newUserBody(), crypto.randomUUID(), newClient()];
    // The first request has reserved the key and is still running.
    const fingerprint = await fingerprintOf(body);
    await env.DB.prepare(
      "insert into idempotency_keys (scope, key, fingerprint, state, created_at, expires_at) values (?, ?, ?, 'in_flight', ?, ?)",
    )
      .bind(`ip:${client}`, key, fingerprint, Date.now(), Date.now() + 86_400_000)
      .run();
    const res = await create(body, key, client);
    const problem = await expectProblem(res, 409, "/problems/conflict");
    expect(problem.detail).toMatch(/still being processed/);
    expect(await usersWithEmail(body.email)).toBe(0);
  });

  it("concurrent duplicates create exactly one user; each answer is that user or a 409", async () => {
    const [body, key, client] = [newUserBody(), crypto.randomUUID(), newClient()];
    const responses = await Promise.all([1, 2, 3].map(() => create(body, key, client)));
    expect(responses.map((res) => res.status).filter((status) => status !== 201 && status !== 409)).toEqual([]);
    const ids = new Set(
      await Promise.all(
        responses.filter((res) => res.status === 201).map(async (res) => ((await res.json()) as { id: string }).id),
      ),
    );
    expect(ids.size).toBe(1);
    expect(await usersWithEmail(body.email)).toBe(1);
  });

  it("keys are scoped to the caller: the same key from another caller is a different request", async () => {
    const key = crypto.randomUUID();
    expect((await create(newUserBody(), key, newClient())).status).toBe(201);
    expect((await create(newUserBody(), key, newClient())).status).toBe(201);
    const { token } = await signedIn("admin");
    const res = await api("POST", "/api/users", { body: newUserBody(), token, headers: { "Idempotency-Key": key } });
    expect(res.status).toBe(201);
  });

  it("a failed attempt releases the key: the retry runs again instead of replaying the failure", async () => {
    const existing = newUserBody();
    expect((await api("POST", "/api/users", { body: existing })).status).toBe(201);
    const [key, client] = [crypto.randomUUID(), newClient()];
    const duplicate = newUserBody({ email: existing.email });
    await expectProblem(await create(duplicate, key, client), 409, "/problems/conflict");
    expect(await record(key)).toBeNull();
    const retry = await create(duplicate, key, client);
    expect(((await retry.json()) as { detail: string }).detail).toMatch(/already exists/);
  });

  it("after 24 hours the key is forgotten and may be used again", async () => {
    const [key, client] = [crypto.randomUUID(), newClient()];
    expect((await create(newUserBody(), key, client)).status).toBe(201);
    await env.DB.prepare("update idempotency_keys set expires_at = ? where key = ?")
      .bind(Date.now() - 1, key)
      .run();
    const reused = await create(newUserBody(), key, client);
    expect(reused.status).toBe(201);
    expect(reused.headers.get("Idempotent-Replayed")).toBeNull();
  });

  async function abandoned(scope: string, key: string, fingerprint: string) {
    await env.DB.prepare(
      "insert into idempotency_keys (scope, key, fingerprint, state, created_at, expires_at) values (?, ?, ?, 'in_flight', ?, ?)",
    )
      .bind(scope, key, fingerprint, Date.now() - 61_000, Date.now() + 86_000_000)
      .run();
  }

  it("a first attempt that died mid-way (in flight for over a minute) is taken over by its retry", async () => {
    const [key, body, client] = [crypto.randomUUID(), newUserBody(), newClient()];
    await abandoned(`ip:${client}`, key, await fingerprintOf(body));
    expect((await create(body, key, client)).status).toBe(201);
    expect(await usersWithEmail(body.email)).toBe(1);
  });

  it("an abandoned key is not taken over by a different request → 422", async () => {
    const [key, client] = [crypto.randomUUID(), newClient()];
    await abandoned(`ip:${client}`, key, await fingerprintOf(newUserBody()));
    await expectProblem(await create(newUserBody(), key, client), 422, "/problems/unprocessable");
  });

  it("a retry with the same key and another password → 422: the account keeps one password, the retry's is refused", async () => {
    const [body, key, client] = [newUserBody(), crypto.randomUUID(), newClient()];
    expect((await create(body, key, client)).status).toBe(201);
    const before = await snapshot();
    const retry = await create({ ...body, password: "another long passphrase" }, key, client);
    await expectProblem(retry, 422, "/problems/unprocessable");
    expect(retry.headers.get("Idempotent-Replayed")).toBeNull();
    expect(await snapshot()).toEqual(before);
    const login = (password: string) => api("POST", "/api/auth/login", { body: { email: body.email, password } });
    expect((await login(body.password)).status).toBe(200);
  });

  it("the stored fingerprint is keyed: not a plain hash of the body, and never the password", async () => {
    const [body, key, client] = [newUserBody(), crypto.randomUUID(), newClient()];
    expect((await create(body, key, client)).status).toBe(201);
    const stored = String((await record(key))?.fingerprint);
    expect(stored).toBe(await fingerprintOf(body));
    const canonical = `POST /api/users\n${JSON.stringify(body, Object.keys(body).sort())}`;
    expect(stored).not.toBe(await sha256(canonical));
    const otherSecret = await deriveHmacKey("another secret of at least thirty-two chars", "idempotency-fingerprint");
    expect(stored).not.toBe(await hmac(otherSecret, canonical));
    expect(JSON.stringify(await record(key))).not.toContain(body.password);
  });

  it("after a 5xx the key stays reserved (the write might have landed): the retry is 409, nothing doubled", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const [body, key, client] = [newUserBody(), crypto.randomUUID(), newClient()];
    const failing = await apiWith({ DB: d1RefusingBatches() }, "POST", "/api/users", {
      body,
      headers: { "Idempotency-Key": key, "CF-Connecting-IP": client },
    });
    await expectProblem(failing, 503, "/problems/unavailable");
    expect(await record(key)).toMatchObject({ state: "in_flight" });
    await expectProblem(await create(body, key, client), 409, "/problems/conflict");
    expect(await usersWithEmail(body.email)).toBe(0);
  });

  it.each(["", " ", "a".repeat(256), '"unterminated', "\u0001ctl"])(
    "a malformed key (%j) → 400, nothing created",
    async (key) => {
      const before = await snapshot();
      const res = await api("POST", "/api/users", { body: newUserBody(), headers: { "Idempotency-Key": key } });
      expect(res.status).toBe(400);
      expect(await snapshot()).toEqual(before);
    },
  );

  it("without the header, a repeated request is a new one (409 for the taken email)", async () => {
    const body = newUserBody();
    expect((await api("POST", "/api/users", { body })).status).toBe(201);
    expect((await api("POST", "/api/users", { body })).status).toBe(409);
  });
});
