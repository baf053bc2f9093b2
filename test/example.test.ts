/**
 * examples/verify-at-the-edge: another Worker that verifies our access tokens with jose through
 * the JWK Set, which it fetches from this Worker over a service binding (as in production with
 * `[[services]]`), run here in workerd.
 */
import { env, exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import downstream, { type Env } from "../examples/verify-at-the-edge/src/index";
import { createD1Database } from "../src/db/d1";
import { fromBase64Url, toBase64Url } from "../src/lib/encoding";
import { KEY_TIMING } from "../src/tokens/signing-keys.service";
import { PASSWORD, seedUser } from "./helpers/fixtures";
import { api } from "./helpers/http";
import { kidOf } from "./helpers/jwt";
import { signingKeysOver } from "./suites/signing-keys";

const ISSUER = "http://localhost:8787";
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

function callDownstream(token: string | undefined, envOverrides: Partial<Env> = {}) {
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  const request = new Request("https://other-team.example/whoami", { headers });
  const bindings: Env = {
    ISSUER,
    AUDIENCE: "edge-users",
    USERS: exports.default as unknown as Fetcher,
    ...envOverrides,
  };
  return downstream.fetch(request as Parameters<typeof downstream.fetch>[0], bindings);
}

async function login(role: "member" | "admin" = "member") {
  const user = await seedUser({ role });
  const res = await api("POST", "/api/auth/login", { body: { email: user.email, password: PASSWORD } });
  return { user, ...((await res.json()) as { token: string; accessToken: string }) };
}

describe("a downstream Worker verifying access tokens through the JWK Set", () => {
  it("knows the caller from an access token: user, session, role", async () => {
    const { user, accessToken } = await login("admin");
    const res = await callDownstream(accessToken);
    expect(res.status).toBe(200);
    const caller = (await res.json()) as Record<string, unknown>;
    expect(caller).toEqual({ userId: user.id, sessionId: expect.any(String), role: "admin", emailVerified: false });
    const { results } = await env.DB.prepare("select id from sessions where user_id = ?").bind(user.id).all();
    expect(results).toEqual([{ id: caller.sessionId }]);
  });

  it("refuses a session token, a tampered token, another audience or issuer, and no token", async () => {
    const { token, accessToken } = await login();
    const [header, payload, signature] = accessToken.split(".");
    const claims = JSON.parse(atob((payload ?? "").replace(/-/g, "+").replace(/_/g, "/")));
    const tampered = `${header}.${btoa(JSON.stringify({ ...claims, role: "admin" }))
      .replace(/=+$/, "")
      .replace(/\+/g, "-")
      .replace(/\//g, "_")}.${signature}`;
    for (const [bearer, overrides] of [
      [token, {}],
      [tampered, {}],
      [undefined, {}],
      [accessToken, { AUDIENCE: "another-api" }],
      [accessToken, { ISSUER: "https://impostor.example" }],
    ] as const) {
      const res = await callDownstream(bearer, overrides);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toContain("invalid_token");
    }
  });

  it("one spelling per token: the high-s twin and a re-spelled signature of a valid token → 401", async () => {
    const { accessToken } = await login();
    expect((await callDownstream(accessToken)).status).toBe(200);
    const [header, payload, signature = ""] = accessToken.split(".");
    const bytes = fromBase64Url(signature);
    const s = BigInt(`0x${[...bytes.subarray(32)].map((b) => b.toString(16).padStart(2, "0")).join("")}`);
    const twin = (P256_ORDER - s).toString(16).padStart(64, "0");
    bytes.set(
      Uint8Array.from(twin.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16)),
      32,
    );
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    // 64 bytes are 86 characters: the last one has 4 unused bits, here one of them set.
    const trailing = signature.slice(0, -1) + alphabet[alphabet.indexOf(signature.slice(-1)) + 1];
    for (const respelled of [`${header}.${payload}.${toBase64Url(bytes)}`, `${header}.${payload}.${trailing}`]) {
      const res = await callDownstream(respelled);
      expect(res.status).toBe(401);
    }
  });

  it("through a key rotation: tokens of the new key verify, tokens of the old one still do while they live", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const t0 = Date.now();
      const before = await login();
      expect((await callDownstream(before.accessToken)).status).toBe(200);
      // `npm run keys:rotate`, then the cron: the next key is published now and signs an hour later.
      const keys = signingKeysOver(createD1Database(env.DB), { secret: env.APP_SECRET });
      await keys.requestRotation();
      expect((await keys.maintain()).scheduled).toEqual(expect.any(String));

      vi.setSystemTime(t0 + KEY_TIMING.publishAheadMs - 60_000);
      const lastOfOld = await login();
      vi.setSystemTime(t0 + KEY_TIMING.publishAheadMs + 60_000);
      const firstOfNew = await login();
      expect(kidOf(firstOfNew.accessToken)).not.toBe(kidOf(lastOfOld.accessToken));
      expect(kidOf(lastOfOld.accessToken)).toBe(kidOf(before.accessToken));
      expect((await callDownstream(firstOfNew.accessToken)).status).toBe(200);
      expect((await callDownstream(lastOfOld.accessToken)).status).toBe(200);
      // The first token has expired meanwhile.
      expect((await callDownstream(before.accessToken)).status).toBe(401);
    } finally {
      vi.useRealTimers();
    }
  });
});
