/**
 * Access tokens (API.md, "v1.1: tokens that other services verify at the edge"): what login and
 * POST /api/auth/token hand out, the JWK Set that verifies them (checked with `jose`, a library the
 * service itself does not use), what the API trusts them for, and what it checks in D1 instead.
 */
import { env } from "cloudflare:workers";
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createMemoryCache } from "../src/cache/memory-cache";
import { createD1Database } from "../src/db/d1";
import { fromBase64Url, toBase64Url, utf8 } from "../src/lib/encoding";
import { signJws } from "../src/lib/jws";
import { keyDerivation } from "../src/lib/password";
import { createAccessTokens } from "../src/tokens/access-tokens";
import { PASSWORD, seedUser, sessionCount, signedInThroughApi, userRow } from "./helpers/fixtures";
import { api, expectProblem, serverTiming } from "./helpers/http";
import { signingKeysOver } from "./suites/signing-keys";

afterEach(() => vi.restoreAllMocks());

const ISSUER = "http://localhost:8787";
const AUDIENCE = "edge-users";

type Login = { token: string; accessToken: string; accessTokenExpiresAt: string; user: { id: string } };

async function login(email: string, password = PASSWORD, headers: Record<string, string> = {}): Promise<Login> {
  const res = await api("POST", "/api/auth/login", { body: { email, password }, headers });
  expect(res.status).toBe(200);
  return (await res.json()) as Login;
}

async function jwks(): Promise<JSONWebKeySet> {
  return (await (await api("GET", "/.well-known/jwks.json")).json()) as JSONWebKeySet;
}

// The service's signing key, reached the way the Worker reaches it (same database, same secret),
// to sign tokens the service would never issue.
function serviceKeys() {
  return signingKeysOver(createD1Database(env.DB), { secret: env.APP_SECRET });
}

async function forge(claims: Record<string, unknown>, header: Record<string, unknown> = {}) {
  const { kid, key } = await serviceKeys().signer();
  return signJws({ typ: "at+jwt", kid, ...header }, claims, key);
}

describe("issuing", () => {
  it("login answers an ES256 at+jwt with the contract's claims, for the session it made", async () => {
    const user = await seedUser({ role: "member", emailVerified: true });
    const before = Math.floor(Date.now() / 1000);
    const body = await login(user.email);
    const header = decodeProtectedHeader(body.accessToken);
    expect(header).toEqual({ alg: "ES256", typ: "at+jwt", kid: expect.any(String) });
    const claims = decodeJwt(body.accessToken);
    expect(Object.keys(claims).sort()).toEqual(
      ["aud", "client_id", "email_verified", "exp", "iat", "iss", "jti", "role", "sid", "sub"].sort(),
    );
    expect(claims).toMatchObject({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: user.id,
      client_id: "edge-users",
      role: "member",
      email_verified: true,
    });
    expect(claims.iat).toBeGreaterThanOrEqual(before);
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(300);
    expect(Date.parse(body.accessTokenExpiresAt)).toBe((claims.exp ?? 0) * 1000);
    const { results } = await env.DB.prepare("select id from sessions where user_id = ?").bind(user.id).all();
    expect(results).toEqual([{ id: claims.sid }]);
  });

  it("verifies with a standard JOSE library through the published JWK Set", async () => {
    const user = await seedUser();
    const { accessToken } = await login(user.email);
    const { payload, protectedHeader } = await jwtVerify(accessToken, createLocalJWKSet(await jwks()), {
      issuer: ISSUER,
      audience: AUDIENCE,
      typ: "at+jwt",
      algorithms: ["ES256"],
    });
    expect(payload.sub).toBe(user.id);
    expect(protectedHeader.alg).toBe("ES256");
  });

  it("the JWK Set: public P-256 keys only, never a private member, cacheable", async () => {
    await login((await seedUser()).email);
    const res = await api("GET", "/.well-known/jwks.json");
    expect(res.status).toBe(200);
    expect(res.headers.get("Cache-Control")).toBe("public, max-age=300");
    const { keys } = (await res.json()) as { keys: Record<string, unknown>[] };
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(Object.keys(key).sort()).toEqual(["alg", "crv", "kid", "kty", "use", "x", "y"]);
      expect(key).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
      for (const secret of ["d", "p", "q", "dp", "dq", "qi", "k"]) expect(key).not.toHaveProperty(secret);
    }
  });

  it("the private keys rest encrypted: no stored column holds a JWK's `d`", async () => {
    await login((await seedUser()).email);
    const { results } = await env.DB.prepare("select * from signing_keys").all<Record<string, string>>();
    expect(results.length).toBeGreaterThan(0);
    for (const row of results) {
      expect(row.public_jwk).not.toContain('"d"');
      expect(row.encrypted_private_jwk).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(row.encrypted_private_jwk).not.toContain("eyJ"); // no base64 JSON in clear
    }
  });

  it("the discovery document names the issuer, the JWK Set and the algorithm", async () => {
    const res = await api("GET", "/.well-known/openid-configuration");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      issuer: ISSUER,
      jwks_uri: `${ISSUER}/.well-known/jwks.json`,
      id_token_signing_alg_values_supported: ["ES256"],
    });
  });

  it("POST /api/auth/token with a session token → a fresh access token for the same session", async () => {
    const user = await seedUser();
    const { token, accessToken } = await login(user.email);
    const res = await api("POST", "/api/auth/token", { token });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { accessToken: string; tokenType: string; expiresIn: number };
    expect(body).toMatchObject({ tokenType: "Bearer", expiresIn: 300 });
    expect(body.accessToken).not.toBe(accessToken);
    expect(decodeJwt(body.accessToken).sid).toBe(decodeJwt(accessToken).sid);
  });

  it("POST /api/auth/token with an access token → 401; a session revoked in D1 (KV still holding it) → 401", async () => {
    const { user, token } = await signedInThroughApi();
    const { accessToken } = await login(user.email);
    await expectProblem(await api("POST", "/api/auth/token", { token: accessToken }), 401, "/problems/unauthorized");
    // As if revoked in another location whose KV purge has not reached this one.
    await env.DB.prepare("delete from sessions where user_id = ?").bind(user.id).run();
    await expectProblem(await api("POST", "/api/auth/token", { token }), 401, "/problems/unauthorized");
  });
});

describe("what the API accepts", () => {
  it("/me and public reads with an access token: no session lookup, no D1 query", async () => {
    const user = await seedUser();
    const other = await seedUser();
    const { accessToken } = await login(user.email);
    await api("GET", "/api/auth/me", { token: accessToken }); // fills the user's cache entry
    const me = await api("GET", "/api/auth/me", { token: accessToken });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ id: user.id, email: user.email });
    expect(serverTiming(me).db).toBeUndefined();
    const profile = await api("GET", `/api/users/${other.id}`, { token: accessToken });
    expect(profile.status).toBe(200);
    expect(await profile.json()).not.toHaveProperty("email");
  });

  it.each([
    ["alg none", async () => `${b64({ alg: "none", typ: "at+jwt", kid: await kid() })}.${b64(await claims())}.`],
    [
      "HS256 keyed with the public key (algorithm confusion)",
      async () => {
        const header = b64({ alg: "HS256", typ: "at+jwt", kid: await kid() });
        const payload = b64(await claims());
        const secret = await crypto.subtle.importKey(
          "raw",
          utf8(JSON.stringify((await jwks()).keys[0])),
          { name: "HMAC", hash: "SHA-256" },
          false,
          ["sign"],
        );
        const mac = await crypto.subtle.sign("HMAC", secret, utf8(`${header}.${payload}`));
        return `${header}.${payload}.${toBase64Url(mac)}`;
      },
    ],
    ["an unknown kid", async () => forge(await claims(), { kid: "no-such-key" })],
    ["a header naming ES384 over a valid ES256 signature", async () => forge(await claims(), { alg: "ES384" })],
    ["a header naming RS256 over a valid ES256 signature", async () => forge(await claims(), { alg: "RS256" })],
    ["another issuer", async () => forge({ ...(await claims()), iss: "https://evil.example" })],
    ["another audience", async () => forge({ ...(await claims()), aud: "someone-else" })],
    ["typ JWT (an ID token, not an access token)", async () => forge(await claims(), { typ: "JWT" })],
    ["expired beyond the 30 s leeway", async () => forge({ ...(await claims()), exp: now() - 31 })],
    ["issued in the future", async () => forge({ ...(await claims()), iat: now() + 120 })],
    ["no jti", async () => forge({ ...(await claims()), jti: undefined })],
    ["a typ that is not a string", async () => forge(await claims(), { typ: 1 })],
    ["a kid that is not a string", async () => forge(await claims(), { kid: { no: "string" } })],
    ["a crit header (an extension we do not understand)", async () => forge(await claims(), { crit: ["exp"] })],
    [
      "a tampered payload",
      async () => {
        const [header, , signature] = (await login((await seedUser()).email)).accessToken.split(".");
        return `${header}.${b64({ ...(await claims()), role: "admin" })}.${signature}`;
      },
    ],
  ])("%s → 401", async (_, make) => {
    const res = await api("GET", "/api/auth/me", { token: await make() });
    await expectProblem(res, 401, "/problems/unauthorized");
    expect(res.headers.get("WWW-Authenticate")).toContain('error="invalid_token"');
  });

  it("expired within the 30 s leeway → still accepted", async () => {
    const res = await api("GET", "/api/auth/me", { token: await forge({ ...(await claims()), exp: now() - 10 }) });
    expect(res.status).toBe(200);
  });

  it("after logout, the session's access token cannot write (401) at once; reads may trust it until it expires", async () => {
    const user = await seedUser();
    const { token, accessToken } = await login(user.email);
    expect((await api("PATCH", `/api/users/${user.id}`, { token: accessToken, body: { name: "Before" } })).status).toBe(
      200,
    );
    expect((await api("POST", "/api/auth/logout", { token })).status).toBe(204);
    const before = await userRow(user.id);
    await expectProblem(
      await api("PATCH", `/api/users/${user.id}`, { token: accessToken, body: { name: "After" } }),
      401,
      "/problems/unauthorized",
    );
    await expectProblem(
      await api("DELETE", `/api/users/${user.id}`, { token: accessToken }),
      401,
      "/problems/unauthorized",
    );
    expect(await userRow(user.id)).toEqual(before);
    // A password change is refused before any password work: no guess at currentPassword, no hash.
    const derive = vi.spyOn(keyDerivation, "scrypt");
    await expectProblem(
      await api("PATCH", `/api/users/${user.id}`, {
        token: accessToken,
        body: { password: "a new passphrase here", currentPassword: PASSWORD },
      }),
      401,
      "/problems/unauthorized",
    );
    expect(derive).not.toHaveBeenCalled();
    // Asking for a verification mail writes a link: refused too, and nothing is stored.
    await expectProblem(
      await api("POST", "/api/auth/email-verification", { token: accessToken }),
      401,
      "/problems/unauthorized",
    );
    const links = await env.DB.prepare("select count(*) as n from email_tokens where user_id = ?")
      .bind(user.id)
      .first();
    expect(links).toEqual({ n: 0 });
    // The stated bound: a read of one's own data trusts the token until it expires.
    expect((await api("GET", "/api/auth/me", { token: accessToken })).status).toBe(200);
  });

  it("a demoted admin's unexpired access token is refused on admin routes at once (403); public reads stay public", async () => {
    const admin = await seedUser({ role: "admin" });
    const member = await seedUser();
    const { accessToken } = await login(admin.email);
    expect((await api("GET", "/api/users", { token: accessToken })).status).toBe(200);
    const other = await login((await seedUser({ role: "admin" })).email);
    const demote = await api("PATCH", `/api/users/${admin.id}`, { token: other.token, body: { role: "member" } });
    expect(demote.status).toBe(200);
    await expectProblem(await api("GET", "/api/users", { token: accessToken }), 403, "/problems/forbidden");
    // A profile anyone may read still reads, as anyone sees it (test/stale-tokens.test.ts).
    const profile = await api("GET", `/api/users/${member.id}`, { token: accessToken });
    expect(profile.status).toBe(200);
    expect(await profile.json()).not.toHaveProperty("email");
    const before = await userRow(member.id);
    await expectProblem(
      await api("PATCH", `/api/users/${member.id}`, { token: accessToken, body: { name: "Hijacked" } }),
      403,
      "/problems/forbidden",
    );
    await expectProblem(
      await api("POST", `/api/users/${member.id}/password-reset`, { token: accessToken }),
      403,
      "/problems/forbidden",
    );
    expect(await userRow(member.id)).toEqual(before);
    // What it may still do as itself: its own data.
    expect((await api("PATCH", `/api/users/${admin.id}`, { token: accessToken, body: { name: "Me" } })).status).toBe(
      200,
    );
  });

  it("a user disabled by an admin: their access token reads nothing of theirs either (401)", async () => {
    const user = await seedUser();
    const { accessToken } = await login(user.email);
    const admin = await login((await seedUser({ role: "admin" })).email);
    const disable = await api("PATCH", `/api/users/${user.id}`, { token: admin.token, body: { status: "disabled" } });
    expect(disable.status).toBe(200);
    await expectProblem(await api("GET", "/api/auth/me", { token: accessToken }), 401, "/problems/unauthorized");
    await expectProblem(
      await api("GET", `/api/users/${user.id}`, { token: accessToken }),
      401,
      "/problems/unauthorized",
    );
  });

  it("a disabled user's access token cannot write (401)", async () => {
    const user = await seedUser();
    const { accessToken } = await login(user.email);
    await env.DB.prepare("update users set status = 'disabled' where id = ?").bind(user.id).run();
    await expectProblem(
      await api("PATCH", `/api/users/${user.id}`, { token: accessToken, body: { name: "X" } }),
      401,
      "/problems/unauthorized",
    );
  });

  it("a session token whose KV entry outlives its revocation elsewhere cannot write: the write checks D1", async () => {
    const { user, token } = await signedInThroughApi();
    // Revoked in D1 (as another location's logout does) while this location's KV still holds it.
    await env.DB.prepare("delete from sessions where user_id = ?").bind(user.id).run();
    expect((await api("GET", "/api/auth/me", { token })).status).toBe(200); // the stated KV bound
    const before = await userRow(user.id);
    await expectProblem(
      await api("PATCH", `/api/users/${user.id}`, { token, body: { name: "Ghost" } }),
      401,
      "/problems/unauthorized",
    );
    expect(await userRow(user.id)).toEqual(before);
  });

  it("a write with a still-valid access token whose session has expired in D1 → 401, nothing written", async () => {
    const user = await seedUser();
    const { accessToken } = await login(user.email);
    await env.DB.prepare("update sessions set expires_at = ? where user_id = ?")
      .bind(Date.now() - 1000, user.id)
      .run();
    const before = await userRow(user.id);
    await expectProblem(
      await api("PATCH", `/api/users/${user.id}`, { token: accessToken, body: { name: "After expiry" } }),
      401,
      "/problems/unauthorized",
    );
    expect(await userRow(user.id)).toEqual(before);
  });

  it("logout with an access token revokes its session", async () => {
    const user = await seedUser();
    const { token, accessToken } = await login(user.email);
    expect((await api("POST", "/api/auth/logout", { token: accessToken })).status).toBe(204);
    expect(await sessionCount(user.id)).toBe(0);
    expect((await api("GET", "/api/auth/me", { token })).status).toBe(401);
  });
});

const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: object) => toBase64Url(utf8(JSON.stringify(value)));
const kid = async () => (await jwks()).keys[0]?.kid as string;

// Valid claims for a fresh member's live session.
async function claims(): Promise<Record<string, unknown>> {
  const user = await seedUser();
  return decodeJwt((await login(user.email)).accessToken) as Record<string, unknown>;
}

describe("the isolate's cache of verified tokens", () => {
  const config = { tokenIssuer: ISSUER, tokenAudience: AUDIENCE, accessTokenTtlSeconds: 300 };
  const member = { id: "01900000-0000-7000-8000-000000000002", role: "member" as const, emailVerified: true };
  const sessionId = "01900000-0000-7000-8000-000000000001";

  function tokens(at: () => Date = () => new Date()) {
    return createAccessTokens({
      keys: serviceKeys(),
      verified: createMemoryCache({ maxEntries: 10, ttlMs: 60_000 }),
      config,
      now: at,
    });
  }

  it("checks a token's signature once; a changed byte is checked (and refused) anew", async () => {
    const service = tokens();
    const { token } = await service.issue(sessionId, member);
    const verify = vi.spyOn(crypto.subtle, "verify");
    await service.verify(token);
    await service.verify(token);
    expect(verify).toHaveBeenCalledTimes(1);
    const [head, body, signature = ""] = token.split(".");
    const flipped = `${head}.${body}.${signature.slice(0, -2)}${signature.endsWith("AA") ? "BB" : "AA"}`;
    await expect(service.verify(flipped)).rejects.toMatchObject({ status: 401 });
    expect(verify).toHaveBeenCalledTimes(2);
  });

  it("still refuses a cached token once it has expired", async () => {
    let clock = Date.now();
    const service = tokens(() => new Date(clock));
    const { token } = await service.issue(sessionId, member);
    await service.verify(token);
    clock += 300_000 + 30_000;
    await expect(service.verify(token)).rejects.toMatchObject({ status: 401 });
  });
});

describe("one spelling per token", () => {
  const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
  const sOf = (token: string) => BigInt(`0x${hex(fromBase64Url(token.split(".")[2] ?? "").subarray(32))}`);

  // The same bytes, spelled with the unused low bits of the last character set.
  function withTrailingBits(part: string): string {
    expect(part.length % 4).not.toBe(0);
    return part.slice(0, -1) + ALPHABET[ALPHABET.indexOf(part.slice(-1)) + 1];
  }

  // A part whose text has spare bits at its end: JSON with a trailing space when needed.
  function encodedWithSpareBits(value: object): string {
    const json = JSON.stringify(value);
    const encoded = toBase64Url(utf8(json));
    return encoded.length % 4 === 0 ? toBase64Url(utf8(`${json} `)) : encoded;
  }

  // `header.payload` exactly as given, signed by the service's key with a low s (as it signs).
  async function signText(header: string, payload: string): Promise<string> {
    const { key } = await serviceKeys().signer();
    for (;;) {
      const signature = new Uint8Array(
        await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, utf8(`${header}.${payload}`)),
      );
      if (BigInt(`0x${hex(signature.subarray(32))}`) <= N / 2n) return `${header}.${payload}.${toBase64Url(signature)}`;
    }
  }

  async function headerAndClaims() {
    const { kid } = await serviceKeys().signer();
    // "~~~~~~" spells "fn5-" somewhere in base64url, so the standard alphabet's twin differs.
    const note = "~~~~~~";
    return { header: { alg: "ES256", typ: "at+jwt", kid, note }, body: { ...(await claims()), note } };
  }

  it("the canonical spelling verifies (the control for the cases below)", async () => {
    const { header, body } = await headerAndClaims();
    const token = await signText(encodedWithSpareBits(header), encodedWithSpareBits(body));
    expect((await api("GET", "/api/auth/me", { token })).status).toBe(200);
  });

  it.each([
    [
      "the signature with set trailing bits",
      async (token: string) => {
        const [h, p, signature = ""] = token.split(".");
        return `${h}.${p}.${withTrailingBits(signature)}`;
      },
    ],
    [
      "the high-s twin of the signature (n − s)",
      async (token: string) => {
        const [h, p, signature = ""] = token.split(".");
        const bytes = fromBase64Url(signature);
        const s = BigInt(`0x${hex(bytes.subarray(32))}`);
        bytes.set(fromHex((N - s).toString(16).padStart(64, "0")), 32);
        return `${h}.${p}.${toBase64Url(bytes)}`;
      },
    ],
  ])("%s → 401", async (_, respell) => {
    const { accessToken } = await login((await seedUser()).email);
    expect((await api("GET", "/api/auth/me", { token: accessToken })).status).toBe(200);
    await expectProblem(
      await api("GET", "/api/auth/me", { token: await respell(accessToken) }),
      401,
      "/problems/unauthorized",
    );
  });

  it.each([
    ["header", 0],
    ["payload", 1],
  ] as const)("the %s with set trailing bits, validly signed over that text → 401", async (_, index) => {
    const { header, body } = await headerAndClaims();
    const parts = [encodedWithSpareBits(header), encodedWithSpareBits(body)];
    parts[index] = withTrailingBits(parts[index] ?? "");
    const token = await signText(parts[0] ?? "", parts[1] ?? "");
    await expectProblem(await api("GET", "/api/auth/me", { token }), 401, "/problems/unauthorized");
  });

  it.each([
    ["'=' padding on the header", (h: string, p: string) => [padded(h), p]],
    ["'=' padding on the payload", (h: string, p: string) => [h, padded(p)]],
    ["'+' for '-' and '/' for '_'", (h: string, p: string) => [standardAlphabet(h), standardAlphabet(p)]],
  ])("%s, validly signed over that text: the service refuses it", async (_, respell) => {
    const { header, body } = await headerAndClaims();
    const [h, p] = respell(encodedWithSpareBits(header), encodedWithSpareBits(body));
    expect(`${h}.${p}`).not.toBe(`${encodedWithSpareBits(header)}.${encodedWithSpareBits(body)}`);
    const token = await signText(h ?? "", p ?? "");
    const tokens = createAccessTokens({
      keys: serviceKeys(),
      config: { tokenIssuer: ISSUER, tokenAudience: AUDIENCE, accessTokenTtlSeconds: 300 },
    });
    await expect(tokens.verify(token)).rejects.toMatchObject({ status: 401 });
    await expectProblem(await api("GET", "/api/auth/me", { token }), 401, "/problems/unauthorized");
  });

  it("every signature the service makes is low-s", async () => {
    const tokens = createAccessTokens({
      keys: serviceKeys(),
      config: { tokenIssuer: ISSUER, tokenAudience: AUDIENCE, accessTokenTtlSeconds: 300 },
    });
    const member = { id: "01900000-0000-7000-8000-000000000002", role: "member" as const, emailVerified: true };
    for (let i = 0; i < 24; i++) {
      const { token } = await tokens.issue("01900000-0000-7000-8000-000000000001", member);
      expect(sOf(token) <= N / 2n).toBe(true);
    }
  });
});

const padded = (part: string) => part + "=".repeat((4 - (part.length % 4)) % 4);
const standardAlphabet = (part: string) => part.replaceAll("-", "+").replaceAll("_", "/");
const hex = (bytes: Uint8Array) => [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
const fromHex = (text: string) => Uint8Array.from(text.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));
