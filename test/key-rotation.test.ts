/**
 * Signing keys over time (API.md v1.1: "a new key is published in the JWKS before it signs, and an
 * old key stays published until every token it signed has expired"). The clock is moved through a
 * whole rotation cycle; two services with their own key caches stand for two isolates; every token
 * still inside its lifetime is checked against the JWK Set with `jose` at every step.
 */
import { env } from "cloudflare:workers";
import { createLocalJWKSet, jwtVerify } from "jose";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createD1Database } from "../src/db/d1";
import { createAccessTokens } from "../src/tokens/access-tokens";
import { KEY_TIMING, keyPlan, type SigningKeysService } from "../src/tokens/signing-keys.service";
import { api } from "./helpers/http";
import { kidOf } from "./helpers/jwt";
import { signingKeysOver } from "./suites/signing-keys";

const DAY = 86_400_000;
const MINUTE = 60_000;
const ROTATION_DAYS = 30;
const TTL_SECONDS = 3600; // the longest lifetime the configuration allows
const config = {
  tokenIssuer: "http://localhost:8787",
  tokenAudience: "edge-users",
  accessTokenTtlSeconds: TTL_SECONDS,
};
const START = new Date("2027-01-01T00:00:00Z");
const SESSION = "01900000-0000-7000-8000-000000000001";
const USER = "01900000-0000-7000-8000-000000000002";

let deferred: Promise<unknown>[] = [];

/** One isolate: its own key cache, the shared database and secret. */
function isolate(secret = env.APP_SECRET) {
  const keys = signingKeysOver(createD1Database(env.DB), {
    secret,
    rotationIntervalMs: ROTATION_DAYS * DAY,
    defer: (task) => deferred.push(task),
  });
  return { keys, tokens: createAccessTokens({ keys, config }) };
}

async function settle() {
  while (deferred.length > 0) await Promise.all(deferred.splice(0));
}

async function storedKeys() {
  const { results } = await env.DB.prepare(
    "select kid, encrypted_private_jwk is not null as private, signs_from from signing_keys order by signs_from",
  ).all<{ kid: string; private: number; signs_from: number }>();
  return results;
}

beforeEach(async () => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(START);
  deferred = [];
  await env.DB.batch([env.DB.prepare("delete from signing_keys"), env.DB.prepare("delete from key_rotation_requests")]);
});

afterEach(() => {
  vi.useRealTimers();
});

describe("a full rotation cycle with the clock moved", () => {
  it("never leaves a valid token unverifiable; publishes ahead; removes a key only after its last token expired", async () => {
    const [one, two] = [isolate(), isolate()];
    const cron = isolate();
    const issued: { token: string; kid: string; expMs: number }[] = [];
    const firstPublished = new Map<string, number>();
    const firstSigned = new Map<string, number>();
    const removedAt = new Map<string, number>();
    let everPublished = new Set<string>();

    async function step() {
      const now = Date.now();
      for (const who of [one, two]) {
        const { token, expiresAt } = await who.tokens.issue(SESSION, {
          id: USER,
          role: "member",
          emailVerified: true,
        });
        const kid = kidOf(token);
        issued.push({ token, kid, expMs: expiresAt.getTime() });
        if (!firstSigned.has(kid)) firstSigned.set(kid, now);
      }
      // What a verifier downloads from either isolate: public members only.
      for (const who of [one, two]) {
        const published = await who.keys.publicKeys();
        for (const jwk of published) {
          expect(Object.keys(jwk).sort()).toEqual(["alg", "crv", "kid", "kty", "use", "x", "y"]);
          if (!firstPublished.has(jwk.kid)) firstPublished.set(jwk.kid, now);
        }
        const kids = new Set(published.map((jwk) => jwk.kid));
        for (const kid of everPublished) if (!kids.has(kid) && !removedAt.has(kid)) removedAt.set(kid, now);
        everPublished = new Set([...everPublished, ...kids]);
        const jwks = createLocalJWKSet({ keys: published });
        // Every token still inside its lifetime verifies, with jose and with the service itself.
        for (const { token, expMs } of issued) {
          if (expMs + KEY_TIMING.leewayMs <= now) continue;
          const { payload } = await jwtVerify(token, jwks, {
            issuer: config.tokenIssuer,
            audience: config.tokenAudience,
            typ: "at+jwt",
            algorithms: ["ES256"],
            currentDate: new Date(now),
            clockTolerance: KEY_TIMING.leewayMs / 1000,
          });
          expect(payload.sub).toBe(USER);
          await expect(who.tokens.verify(token)).resolves.toMatchObject({ sub: USER });
        }
      }
    }

    async function at(ms: number) {
      vi.setSystemTime(ms);
      await cron.keys.maintain(); // the minute cron
      await settle();
      await step();
    }

    await at(START.getTime());
    const [first] = await storedKeys();
    expect(first).toBeDefined();
    const due = START.getTime() + ROTATION_DAYS * DAY - KEY_TIMING.publishAheadMs;
    await at(due - MINUTE);
    expect((await storedKeys()).length).toBe(1);
    // Due: the next key is stored, published at once, and signs an hour later.
    for (
      let t = due;
      t <= due + KEY_TIMING.publishAheadMs + KEY_TIMING.maxTokenLifetimeMs + 10 * MINUTE;
      t += 5 * MINUTE
    )
      await at(t);
    // Then a day: nothing more happens until the next key is due.
    await at(due + DAY);

    const keys = await storedKeys();
    expect(keys.map((key) => key.kid)).not.toContain(first?.kid);
    expect(keys).toHaveLength(1);
    expect(keys[0]?.private).toBe(1);
    const second = keys[0]?.kid ?? "";
    // The new key was published for longer than the JWK Set's max-age before it signed anything.
    const jwksMaxAge = Number(
      /max-age=(\d+)/.exec((await api("GET", "/.well-known/jwks.json")).headers.get("cache-control") ?? "")?.[1],
    );
    expect(jwksMaxAge).toBeGreaterThan(0);
    const ahead = (firstSigned.get(second) ?? 0) - (firstPublished.get(second) ?? Number.POSITIVE_INFINITY);
    expect(ahead).toBeGreaterThanOrEqual(KEY_TIMING.publishAheadMs - 5 * MINUTE);
    expect(ahead).toBeGreaterThan(jwksMaxAge * 1000);
    // The old key was removed only once the last token it signed had expired (plus the leeway).
    const lastExpiry = Math.max(...issued.filter((t) => t.kid === first?.kid).map((t) => t.expMs));
    expect(removedAt.get(first?.kid ?? "")).toBeGreaterThanOrEqual(lastExpiry + KEY_TIMING.leewayMs);
    // And every token of both keys was checked while valid.
    expect(new Set(issued.map((t) => t.kid))).toEqual(new Set([first?.kid, second]));
  });
});

describe("on demand and across isolates", () => {
  it("a rotation request (npm run keys:rotate) is made by the first isolate that reloads its keys, once", async () => {
    const [one, two] = [isolate(), isolate()];
    await one.tokens.issue(SESSION, { id: USER, role: "member", emailVerified: false });
    await two.keys.publicKeys();
    await env.DB.prepare("insert into key_rotation_requests (id, requested_at) values ('signing-key', ?)")
      .bind(Date.now())
      .run();

    vi.setSystemTime(START.getTime() + KEY_TIMING.refreshMs);
    // Both isolates' caches are due for a refresh; both see the request; one new key is made.
    await Promise.all([one.keys.publicKeys(), two.keys.publicKeys()]);
    await settle();
    const keys = await storedKeys();
    expect(keys).toHaveLength(2);
    expect(keys[1]?.signs_from).toBe(START.getTime() + KEY_TIMING.refreshMs + KEY_TIMING.publishAheadMs);
    const { results } = await env.DB.prepare("select * from key_rotation_requests").all();
    expect(results).toEqual([]);
    // Published at once by every isolate (their caches were cleared or refreshed), signing an hour later.
    vi.setSystemTime(START.getTime() + 2 * KEY_TIMING.refreshMs);
    expect((await two.keys.publicKeys()).map((jwk) => jwk.kid)).toEqual(keys.map((key) => key.kid));
    expect(kidOf((await two.tokens.issue(SESSION, { id: USER, role: "member", emailVerified: false })).token)).toBe(
      keys[0]?.kid,
    );
    vi.setSystemTime((keys[1]?.signs_from ?? 0) + 1);
    expect(kidOf((await one.tokens.issue(SESSION, { id: USER, role: "member", emailVerified: false })).token)).toBe(
      keys[1]?.kid,
    );
  });

  it("a key another isolate made is found on the first token that names it, without waiting for a refresh", async () => {
    const [one, two] = [isolate(), isolate()];
    await two.keys.publicKeys(); // two's cache: no key yet
    const { token } = await one.tokens.issue(SESSION, {
      id: USER,
      role: "admin",
      emailVerified: true,
    });
    await expect(two.tokens.verify(token)).resolves.toMatchObject({ role: "admin" });
  });

  it("a changed APP_SECRET: a new key signs at once; tokens of the old key still verify until they expire", async () => {
    const before = isolate();
    const { token: old } = await before.tokens.issue(SESSION, {
      id: USER,
      role: "member",
      emailVerified: true,
    });
    const after = isolate("another secret, as after `wrangler secret put APP_SECRET`");
    const { token: fresh } = await after.tokens.issue(SESSION, {
      id: USER,
      role: "member",
      emailVerified: true,
    });
    expect(kidOf(fresh)).not.toBe(kidOf(old));
    await expect(after.tokens.verify(old)).resolves.toBeDefined();
    await expect(after.tokens.verify(fresh)).resolves.toBeDefined();
    const keys = await storedKeys();
    expect(keys.map((key) => key.kid)).toEqual([kidOf(old), kidOf(fresh)]);
  });

  it("a changed APP_SECRET with a key already waiting (made under the new secret): that key signs, none is added", async () => {
    const before = isolate();
    const { token: old } = await before.tokens.issue(SESSION, { id: USER, role: "member", emailVerified: true });
    const secret = "the new secret, set with `wrangler secret put APP_SECRET`";
    const cron = isolate(secret);
    await cron.keys.requestRotation();
    const { scheduled } = await cron.keys.maintain();
    expect(scheduled).toEqual(expect.any(String));
    const after = isolate(secret);
    const { token: fresh } = await after.tokens.issue(SESSION, { id: USER, role: "member", emailVerified: true });
    expect(kidOf(fresh)).toBe(scheduled);
    expect((await storedKeys()).map((key) => key.kid)).toEqual([kidOf(old), scheduled]);
    // Both verify for any isolate: the waiting key was published when it was made.
    await expect(isolate().tokens.verify(fresh)).resolves.toBeDefined();
    await expect(isolate().tokens.verify(old)).resolves.toBeDefined();
  });

  it("the cron's maintenance: a first key on an empty database, then nothing until a key is due", async () => {
    const cron: SigningKeysService = isolate().keys;
    await expect(cron.maintain()).resolves.toEqual({
      scheduled: null,
      privateKeysDropped: 0,
      keysRemoved: 0,
      keysResealed: 0,
    });
    expect(await storedKeys()).toHaveLength(1);
    vi.setSystemTime(START.getTime() + ROTATION_DAYS * DAY - KEY_TIMING.publishAheadMs - 1);
    await expect(cron.maintain()).resolves.toEqual({
      scheduled: null,
      privateKeysDropped: 0,
      keysRemoved: 0,
      keysResealed: 0,
    });
    vi.setSystemTime(START.getTime() + ROTATION_DAYS * DAY - KEY_TIMING.publishAheadMs);
    await expect(cron.maintain()).resolves.toMatchObject({ scheduled: expect.any(String) });
    // A second run (or a second cron) makes no second waiting key.
    await expect(cron.maintain()).resolves.toMatchObject({ scheduled: null });
    expect(await storedKeys()).toHaveLength(2);
  });
});

describe("keyPlan", () => {
  const key = (kid: string, signsFrom: number, sealed = true) => ({
    kid,
    publicJwk: "{}",
    encryptedPrivateJwk: sealed ? "sealed" : null,
    createdAt: new Date(signsFrom),
    signsFrom: new Date(signsFrom),
  });
  const options = { rotationIntervalMs: ROTATION_DAYS * DAY, rotationRequested: false };

  it("drops a private key when its successor signs, and removes the key a lifetime and the leeway later", () => {
    const t = START.getTime();
    const keys = [key("a", t), key("b", t + DAY)];
    expect(keyPlan(keys, new Date(t + DAY - 1), options)).toEqual({ scheduleNext: false, dropPrivate: [], remove: [] });
    expect(keyPlan(keys, new Date(t + DAY), options)).toEqual({ scheduleNext: false, dropPrivate: ["a"], remove: [] });
    const gone = t + DAY + KEY_TIMING.maxTokenLifetimeMs + KEY_TIMING.leewayMs;
    expect(keyPlan([key("a", t, false), keys[1] ?? key("b", 0)], new Date(gone - 1), options).remove).toEqual([]);
    expect(keyPlan([key("a", t, false), keys[1] ?? key("b", 0)], new Date(gone), options).remove).toEqual(["a"]);
  });

  it("schedules on request even when not due, never while a key is waiting", () => {
    const t = START.getTime();
    expect(keyPlan([key("a", t)], new Date(t + 1), { ...options, rotationRequested: true }).scheduleNext).toBe(true);
    expect(
      keyPlan([key("a", t), key("b", t + DAY)], new Date(t + 1), { ...options, rotationRequested: true }).scheduleNext,
    ).toBe(false);
  });
});
