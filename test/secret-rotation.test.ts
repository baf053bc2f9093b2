/**
 * docs/tokens.md's runbooks, step by step, with isolates deployed under the secrets each step sets:
 * rotating APP_SECRET with APP_SECRET_PREVIOUS (no sign-in fails, no token stops verifying, no
 * emergency key), a lost APP_SECRET (sign-ins keep working, the key that waited is unpublished),
 * and a fresh database's first sign-ins.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from "jose";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { Bindings } from "../src/config";
import worker from "../src/index";
import { createSealer } from "../src/lib/sealing";
import { PASSWORD, seedUser } from "./helpers/fixtures";
import { isolate } from "./helpers/http";
import { kidOf } from "./helpers/jwt";

const OLD = "the old APP_SECRET, long enough to be accepted";
const NEW = "the new APP_SECRET, also long enough to be accepted";
const ISSUER = "http://localhost:8787";

type Deployment = ReturnType<typeof isolate>;

async function signIn(deployment: Deployment, email: string) {
  const res = await deployment.fetch("POST", "/api/auth/login", { body: { email, password: PASSWORD } });
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { accessToken: string }).accessToken;
}

async function me(deployment: Deployment, token: string) {
  return (await deployment.fetch("GET", "/api/auth/me", { token })).status;
}

/** What `npm run keys:rotate` writes. */
async function keysRotate() {
  await env.DB.prepare("insert or ignore into key_rotation_requests (id, requested_at) values ('signing-key', ?)")
    .bind(Date.now())
    .run();
}

/** The minute cron of a deployment with these secrets. */
async function cron(secrets: Partial<Bindings>) {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: "* * * * *" }), { ...env, ...secrets } as Bindings, ctx);
  await waitOnExecutionContext(ctx);
}

async function storedKeys() {
  const { results } = await env.DB.prepare(
    "select kid, encrypted_private_jwk as sealed, signs_from from signing_keys order by signs_from",
  ).all<{ kid: string; sealed: string | null; signs_from: number }>();
  return results;
}

async function opensUnder(secret: string, key: { kid: string; sealed: string | null }) {
  return (await createSealer({ current: secret }, "signing-keys").open(key.sealed ?? "", key.kid)) !== null;
}

async function verifiesWithJwks(deployment: Deployment, token: string) {
  const jwks = (await (await deployment.fetch("GET", "/.well-known/jwks.json")).json()) as JSONWebKeySet;
  const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
    issuer: ISSUER,
    audience: "edge-users",
    typ: "at+jwt",
    algorithms: ["ES256"],
  });
  return payload;
}

beforeEach(async () => {
  vi.spyOn(console, "log").mockImplementation(() => {});
  await env.DB.batch([env.DB.prepare("delete from signing_keys"), env.DB.prepare("delete from key_rotation_requests")]);
  return () => vi.restoreAllMocks();
});

describe("Rotating APP_SECRET (docs/tokens.md)", () => {
  it("PREVIOUS = old, APP_SECRET = new, deploy, keys:rotate, remove PREVIOUS: no sign-in fails, no token stops verifying, no emergency key", async () => {
    const user = await seedUser();
    const before = isolate({ APP_SECRET: OLD });
    const issuedBefore = await signIn(before, user.email);
    // A rotated key is waiting as well, sealed under the old secret.
    await keysRotate();
    await cron({ APP_SECRET: OLD });
    const [signing, waiting] = await storedKeys();
    expect(waiting?.signs_from).toBeGreaterThan(Date.now());

    // 1–3. APP_SECRET_PREVIOUS = the old secret, APP_SECRET = a new one, deploy.
    const during = isolate({ APP_SECRET: NEW, APP_SECRET_PREVIOUS: OLD });
    const issuedDuring = await signIn(during, user.email);
    expect(kidOf(issuedDuring)).toBe(signing?.kid);
    expect(await me(during, issuedBefore)).toBe(200);
    // The key that signed was re-sealed under the new secret after the response.
    const resealed = (await storedKeys()).find((key) => key.kid === signing?.kid);
    expect(resealed && (await opensUnder(NEW, resealed))).toBe(true);

    // 4. npm run keys:rotate; the cron re-seals every other key (a key is waiting: no new one).
    await keysRotate();
    await cron({ APP_SECRET: NEW, APP_SECRET_PREVIOUS: OLD });
    const keys = await storedKeys();
    expect(keys.map((key) => key.kid)).toEqual([signing?.kid, waiting?.kid]);
    for (const key of keys) expect(await opensUnder(NEW, key)).toBe(true);

    // 5. Remove APP_SECRET_PREVIOUS.
    const after = isolate({ APP_SECRET: NEW });
    const issuedAfter = await signIn(after, user.email);
    expect(kidOf(issuedAfter)).toBe(signing?.kid);
    for (const token of [issuedBefore, issuedDuring, issuedAfter]) {
      expect(await me(after, token)).toBe(200);
      expect((await verifiesWithJwks(after, token)).sub).toBe(user.id);
    }
    expect((await storedKeys()).map((key) => key.kid)).toEqual([signing?.kid, waiting?.kid]);
  });
});

describe("Lost APP_SECRET (emergency, docs/tokens.md)", () => {
  it("a new APP_SECRET without PREVIOUS while a rotated key waits: every sign-in succeeds, one new key signs, the waiting key is unpublished", async () => {
    const user = await seedUser();
    const before = isolate({ APP_SECRET: OLD });
    const issuedBefore = await signIn(before, user.email);
    await keysRotate();
    await cron({ APP_SECRET: OLD });
    const [signing, waiting] = await storedKeys();
    expect(waiting).toBeDefined();

    const after = isolate({ APP_SECRET: NEW });
    const others = await Promise.all(Array.from({ length: 5 }, () => seedUser()));
    const issued = await Promise.all(others.map((other) => signIn(after, other.email)));
    const kids = new Set(issued.map(kidOf));
    expect(kids.size).toBe(1);
    const [emergency] = kids;
    expect([signing?.kid, waiting?.kid]).not.toContain(emergency);
    expect((await storedKeys()).map((key) => key.kid)).toEqual([signing?.kid, emergency]);

    // What every isolate publishes: the old key (its tokens still live) and the new one; not the waiting one.
    const elsewhere = isolate({ APP_SECRET: NEW });
    const jwks = (await (await elsewhere.fetch("GET", "/.well-known/jwks.json")).json()) as JSONWebKeySet;
    expect(jwks.keys.map((key) => key.kid)).toEqual([signing?.kid, emergency]);
    expect(await me(elsewhere, issuedBefore)).toBe(200);
    for (const [index, token] of issued.entries()) {
      expect((await verifiesWithJwks(elsewhere, token)).sub).toBe(others[index]?.id);
    }
    // Another isolate of the new deployment signs with the same new key, and the cron adds none.
    expect(kidOf(await signIn(isolate({ APP_SECRET: NEW }), user.email))).toBe(emergency);
    await cron({ APP_SECRET: NEW });
    expect((await storedKeys()).map((key) => key.kid)).toEqual([signing?.kid, emergency]);
  });
});

describe("a fresh database", () => {
  it.each([
    [
      "one isolate",
      () => {
        const one = isolate();
        return () => one;
      },
    ],
    ["five isolates", () => () => isolate()],
  ])(
    "5 parallel first sign-ins in %s: all 200, one key, every token verifies with the JWK Set",
    async (_, deployments) => {
      const users = await Promise.all(Array.from({ length: 5 }, () => seedUser()));
      const next = deployments();
      const issued = await Promise.all(users.map((user) => signIn(next(), user.email)));
      const keys = await storedKeys();
      expect(keys).toHaveLength(1);
      expect(new Set(issued.map(kidOf))).toEqual(new Set([keys[0]?.kid]));
      for (const [index, token] of issued.entries()) {
        expect((await verifiesWithJwks(isolate(), token)).sub).toBe(users[index]?.id);
      }
    },
  );
});
