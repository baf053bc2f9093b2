/**
 * Signing keys over time (API.md v1.1: "a new key is published in the JWKS before it signs, and an
 * old key stays published until every token it signed has expired"). The clock is moved through a
 * whole rotation cycle; two services with their own key caches stand for two isolates; every token
 * still inside its lifetime is checked against the JWK Set with `jose` at every step.
 */
import { env } from "cloudflare:workers";
import { createLocalJWKSet, jwtVerify } from "jose";
import { uuidv7 } from "uuidv7";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createD1Database } from "../src/db/d1";
import { toBase64Url, utf8 } from "../src/lib/encoding";
import { generateSigningKeyPair } from "../src/lib/jws";
import { createSealer } from "../src/lib/sealing";
import { createAccessTokens } from "../src/tokens/access-tokens";
import { createKeyIds } from "../src/tokens/key-ids";
import { KEY_TIMING, keyPlan, type SigningKeysService } from "../src/tokens/signing-keys.service";
import { type BindingCounts, countingD1 } from "./helpers/bindings";
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

/** One isolate: its own key cache, the shared database (or a counting view of it) and secret. */
function isolate(secret = env.APP_SECRET, { db = env.DB, now }: { db?: D1Database; now?: () => Date } = {}) {
  const keys = signingKeysOver(createD1Database(db), {
    secret,
    rotationIntervalMs: ROTATION_DAYS * DAY,
    defer: (task) => deferred.push(task),
    ...(now ? { now } : {}),
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

/** Stores a key as another isolate (or another secret) would have made it. */
async function storeKey({
  secret,
  signsFrom,
  createdAt = signsFrom,
}: {
  secret: string;
  signsFrom: number;
  createdAt?: number;
}) {
  const kid = await createKeyIds({ current: secret }).make();
  const { publicJwk, privateJwk } = await generateSigningKeyPair(kid);
  const sealed = await createSealer({ current: secret }, "signing-keys").seal(privateJwk, kid);
  await env.DB.prepare(
    "insert into signing_keys (kid, public_jwk, encrypted_private_jwk, created_at, signs_from) values (?, ?, ?, ?, ?)",
  )
    .bind(kid, JSON.stringify(publicJwk), sealed, createdAt, signsFrom)
    .run();
  return kid;
}

const member = { id: USER, role: "member" as const, emailVerified: true };
const LOST = "a secret nobody has any more, at least 32 characters";

describe("keys that do not open", () => {
  it("a current key that does not open drops out: the key before it still signs, and the replacement is published an hour ahead", async () => {
    const t = START.getTime();
    const older = await storeKey({ secret: env.APP_SECRET, signsFrom: t - 2 * 3600_000 });
    await storeKey({ secret: LOST, signsFrom: t - 10 * MINUTE });
    const one = isolate();
    const { token } = await one.tokens.issue(SESSION, member);
    expect(kidOf(token)).toBe(older);
    await settle(); // the maintenance the skipped key asked for
    const keys = await storedKeys();
    expect(keys).toHaveLength(3);
    const next = keys[2];
    expect(next?.signs_from).toBe(t + KEY_TIMING.publishAheadMs);
    expect(keys[0]).toMatchObject({ kid: older, private: 1 });
    expect((await isolate().keys.publicKeys()).map((jwk) => jwk.kid)).toContain(next?.kid);
    // The old key signs until the replacement does; then the replacement.
    vi.setSystemTime(t + KEY_TIMING.publishAheadMs - MINUTE);
    expect(kidOf((await isolate().tokens.issue(SESSION, member)).token)).toBe(older);
    vi.setSystemTime(t + KEY_TIMING.publishAheadMs);
    expect(kidOf((await isolate().tokens.issue(SESSION, member)).token)).toBe(next?.kid);
    await expect(isolate().tokens.verify(token)).resolves.toMatchObject({ sub: USER });
  });

  it("the cron unpublishes a waiting key that does not open, and schedules one that does", async () => {
    const t = START.getTime();
    const current = await storeKey({ secret: env.APP_SECRET, signsFrom: t - DAY });
    const waiting = await storeKey({ secret: LOST, signsFrom: t + 30 * MINUTE, createdAt: t - 30 * MINUTE });
    const result = await isolate().keys.maintain();
    expect(result).toMatchObject({ scheduled: expect.any(String), keysRemoved: 1 });
    const kids = (await storedKeys()).map((key) => key.kid);
    expect(kids).toEqual([current, result.scheduled]);
    expect(kids).not.toContain(waiting);
  });

  it("a fresh database with isolates whose clocks disagree: every one signs with the one first key", async () => {
    const t = START.getTime();
    // The first isolate's clock runs ahead of the others': its key "signs from" their future.
    const isolates = [0, 40, 80, 120, 160].map((behindMs) =>
      isolate(env.APP_SECRET, { now: () => new Date(t - behindMs) }),
    );
    const issued = await Promise.all(isolates.map((one) => one.tokens.issue(SESSION, member)));
    expect(await storedKeys()).toHaveLength(1);
    expect(new Set(issued.map(({ token }) => kidOf(token)))).toEqual(new Set([(await storedKeys())[0]?.kid]));
  });
});

describe("tokens naming kids this isolate has not loaded", () => {
  const header = (kid: string) => toBase64Url(utf8(JSON.stringify({ alg: "ES256", typ: "at+jwt", kid })));
  const withKid = (token: string, kid: string) => `${header(kid)}.${token.split(".").slice(1).join(".")}`;

  it("a stream of made-up kids costs no key read; a real key published meanwhile verifies at once", async () => {
    const counts: BindingCounts = { d1: 0, kvGet: 0, kvPut: 0, kvDelete: 0 };
    const watched = isolate(env.APP_SECRET, { db: countingD1(env.DB, counts) });
    const { token } = await isolate().tokens.issue(SESSION, member);
    await expect(watched.tokens.verify(token)).resolves.toBeDefined();
    const readsBefore = counts.d1;
    const future = new Date(Date.now() + DAY).getTime();
    for (let i = 0; i < 60; i++) {
      vi.setSystemTime(START.getTime() + i * 1000); // a minute of flood, across several reload intervals
      const made = [
        crypto.randomUUID(),
        `no-such-key-${i}`,
        // The new format with a future time, but a MAC made without the secret.
        `${uuidv7().replace(/^.{8}-.{4}/, () =>
          future
            .toString(16)
            .padStart(12, "0")
            .replace(/^(.{8})/, "$1-"),
        )}.${toBase64Url(crypto.getRandomValues(new Uint8Array(12)))}`,
      ];
      for (const kid of made)
        await expect(watched.tokens.verify(withKid(token, kid))).rejects.toMatchObject({ status: 401 });
    }
    expect(counts.d1).toBe(readsBefore);
    // Another isolate lost its key's secret and made a key that signs at once.
    await env.DB.prepare("delete from signing_keys").run();
    const now = Date.now();
    const fresh = await storeKey({ secret: env.APP_SECRET, signsFrom: now });
    const { token: signed } = await isolate().tokens.issue(SESSION, member);
    expect(kidOf(signed)).toBe(fresh);
    await expect(watched.tokens.verify(signed)).resolves.toMatchObject({ sub: USER });
    expect(counts.d1 - readsBefore).toBe(2); // one load: the keys and the rotation request, in one batch
  });

  it("a genuine kid of a removed key, over and over: at most one key read per interval", async () => {
    const counts: BindingCounts = { d1: 0, kvGet: 0, kvPut: 0, kvDelete: 0 };
    const watched = isolate(env.APP_SECRET, { db: countingD1(env.DB, counts) });
    const { token } = await isolate().tokens.issue(SESSION, member);
    const removed = await storeKey({ secret: env.APP_SECRET, signsFrom: Date.now() - DAY });
    await env.DB.prepare("delete from signing_keys where kid = ?").bind(removed).run();
    vi.setSystemTime(START.getTime() + MINUTE);
    await watched.keys.publicKeys();
    const readsBefore = counts.d1;
    for (let i = 0; i < 30; i++) {
      vi.setSystemTime(START.getTime() + MINUTE + i * 1000);
      await expect(watched.tokens.verify(withKid(token, removed))).rejects.toMatchObject({ status: 401 });
    }
    const loads = (counts.d1 - readsBefore) / 2;
    expect(loads).toBeGreaterThanOrEqual(1);
    expect(loads).toBeLessThanOrEqual(Math.ceil(30_000 / KEY_TIMING.unknownKidReloadMs));
  });
});
