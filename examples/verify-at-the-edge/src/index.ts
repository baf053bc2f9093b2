/**
 * Another team's Worker that needs to know who is calling, without calling edge-users on every
 * request: it verifies the caller's access token locally, with `jose`, against edge-users' JWK Set.
 * The key set is fetched once per isolate and kept (jose refetches it after `cacheMaxAge`, or at
 * once, at most every `cooldownDuration`, when a token names a key it has not seen: a rotation).
 *
 * In production the JWK Set is fetched over HTTPS from the issuer; with a service binding `USERS`
 * to edge-users (same account) it goes through the binding instead, with no public hop.
 */
import {
  base64url,
  createRemoteJWKSet,
  customFetch,
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  jwtVerify,
} from "jose";

export type Env = {
  /** edge-users' issuer (its public origin): TOKEN_ISSUER there. */
  ISSUER: string;
  /** The audience our tokens are for: TOKEN_AUDIENCE there. */
  AUDIENCE: string;
  /** Optional service binding to edge-users. */
  USERS?: Fetcher;
};

/** What this Worker learns from a valid token. */
export type Caller = { userId: string; sessionId: string; role: string; emailVerified: boolean };

let keySet: { issuer: string; jwks: ReturnType<typeof createRemoteJWKSet> } | undefined;

function jwksFor(env: Env) {
  if (keySet?.issuer !== env.ISSUER) {
    const users = env.USERS;
    keySet = {
      issuer: env.ISSUER,
      jwks: createRemoteJWKSet(new URL("/.well-known/jwks.json", env.ISSUER), {
        cacheMaxAge: 10 * 60_000,
        cooldownDuration: 30_000,
        ...(users ? { [customFetch]: (url: string, init: RequestInit) => users.fetch(url, init) } : {}),
      }),
    };
  }
  return keySet.jwks;
}

// The order n of P-256's group: an ECDSA signature (r, s) has a twin (r, n − s) that verifies too.
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/**
 * One spelling per token, as edge-users itself requires (its docs/tokens.md): every part is
 * canonical base64url (jose also accepts set bits after the last byte) and an ES256 signature is
 * low-s (jose accepts the high-s twin). So a token cannot be re-spelled into a second valid text
 * that a cache, a log or a replay check would take for another token.
 */
function hasOneSpelling(token: string): boolean {
  const parts = token.split(".");
  if (parts.length !== 3) return false;
  let signature: Uint8Array | undefined;
  for (const part of parts) {
    try {
      signature = base64url.decode(part);
      if (base64url.encode(signature) !== part) return false;
    } catch {
      return false;
    }
  }
  if (decodeProtectedHeader(token).alg !== "ES256") return true; // jwtVerify decides on others
  if (signature?.length !== 64) return false;
  let s = 0n;
  for (const byte of signature.subarray(32)) s = (s << 8n) | BigInt(byte);
  return s <= P256_ORDER >> 1n;
}

/** The caller behind `Authorization: Bearer <access token>`, or null for anything not valid. */
export async function verifyCaller(request: Request, env: Env): Promise<Caller | null> {
  const token = /^Bearer ([\w-]+\.[\w-]+\.[\w-]+)$/.exec(request.headers.get("Authorization") ?? "")?.[1];
  if (!token) return null;
  let payload: JWTPayload;
  try {
    if (!hasOneSpelling(token)) return null;
    ({ payload } = await jwtVerify(token, jwksFor(env), {
      issuer: env.ISSUER,
      audience: env.AUDIENCE,
      typ: "at+jwt",
      algorithms: ["ES256", "EdDSA"],
      clockTolerance: 30,
      requiredClaims: ["sub", "sid", "exp", "iat", "jti"],
    }));
  } catch (error) {
    if (error instanceof errors.JOSEError) return null;
    throw error;
  }
  const { sub, sid, role, email_verified } = payload;
  if (typeof sub !== "string" || typeof sid !== "string" || typeof role !== "string") return null;
  return { userId: sub, sessionId: sid, role, emailVerified: email_verified === true };
}

export default {
  async fetch(request, env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname !== "/whoami") return Response.json({ error: "not found" }, { status: 404 });
    const caller = await verifyCaller(request, env);
    if (!caller) {
      return Response.json(
        { error: "a valid edge-users access token is required" },
        { status: 401, headers: { "WWW-Authenticate": 'Bearer error="invalid_token"' } },
      );
    }
    // Reads may trust the token until it expires (at most ACCESS_TOKEN_TTL_SECONDS); a service that
    // must refuse a signed-out session at once asks edge-users (GET /api/auth/me with a session token).
    return Response.json(caller, { headers: { "Cache-Control": "private, no-store" } });
  },
} satisfies ExportedHandler<Env>;
