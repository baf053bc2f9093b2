import { fromBase64Url, toBase64Url, utf8 } from "./encoding";

/**
 * Compact JWS (RFC 7515) with ES256 (ECDSA P-256 with SHA-256, RFC 7518 §3.4), over WebCrypto.
 * Written here rather than imported: it is two WebCrypto calls and some base64url (1.1 KB gzipped),
 * where jose's sign, verify and JWK import add 7.6 KB gzipped to every isolate's start
 * (docs/tokens.md#why-webcrypto-by-hand-not-jose-inside-the-service).
 * Only ES256 is ever produced or accepted: the algorithm is fixed by the key, never taken from a
 * token's header, so `alg: none` and algorithm confusion cannot arise.
 *
 * One spelling per token: each part must be canonical unpadded base64url (no `=`, `+` or `/`, no
 * set bits after the last byte) and the signature low-s (s ≤ n/2; what we sign always is), so no
 * one can make a second, different text that verifies from a token they hold.
 */
export const JWS_ALGORITHM = "ES256";
const ECDSA = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;
// Longer than any token this service issues; a bigger one is not worth parsing.
const MAX_TOKEN_LENGTH = 4096;
// The order n of P-256's group: (r, s) and (r, n − s) both verify, so only s ≤ n/2 is accepted.
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const P256_HALF_ORDER = P256_ORDER >> 1n;

export type JwsHeader = { alg: string; kid?: string; typ?: string };

/** A P-256 public key as a JWK (RFC 7517), with the members a JWK Set publishes. */
export type PublicJwk = { kty: "EC"; crv: "P-256"; x: string; y: string; kid: string; alg: "ES256"; use: "sig" };

/** A new P-256 key pair: the public half as a JWK, the private half as JWK JSON (to be encrypted). */
export async function generateSigningKeyPair(kid: string): Promise<{ publicJwk: PublicJwk; privateJwk: string }> {
  const pair = (await crypto.subtle.generateKey(ECDSA, true, ["sign", "verify"])) as CryptoKeyPair;
  const exportedPublic = (await crypto.subtle.exportKey("jwk", pair.publicKey)) as JsonWebKey;
  const exportedPrivate = (await crypto.subtle.exportKey("jwk", pair.privateKey)) as JsonWebKey;
  // Only the members a P-256 key has: runtimes add others (key_ops, ext) in different ways.
  const publicJwk: PublicJwk = {
    kty: "EC",
    crv: "P-256",
    x: String(exportedPublic.x),
    y: String(exportedPublic.y),
    kid,
    alg: JWS_ALGORITHM,
    use: "sig",
  };
  const privateJwk = JSON.stringify({ kty: "EC", crv: "P-256", x: publicJwk.x, y: publicJwk.y, d: exportedPrivate.d });
  return { publicJwk, privateJwk };
}

export function importPublicKey(jwk: PublicJwk): Promise<CryptoKey> {
  const { kty, crv, x, y } = jwk;
  return crypto.subtle.importKey("jwk", { kty, crv, x, y }, ECDSA, false, ["verify"]);
}

export function importPrivateKey(privateJwk: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("jwk", JSON.parse(privateJwk) as JsonWebKey, ECDSA, false, ["sign"]);
}

/** `header.payload.signature`, signed with `key` (ES256). */
export async function signJws(header: Omit<JwsHeader, "alg">, payload: object, key: CryptoKey): Promise<string> {
  const input = `${encodeJson({ alg: JWS_ALGORITHM, ...header })}.${encodeJson(payload)}`;
  // WebCrypto's ECDSA signature is r || s, 64 bytes: exactly JWS's encoding; s made low.
  const signature = new Uint8Array(await crypto.subtle.sign(SIGN, key, utf8(input)));
  const s = toBigInt(signature.subarray(32));
  if (s > P256_HALF_ORDER) signature.set(fromBigInt(P256_ORDER - s, 32), 32);
  return `${input}.${toBase64Url(signature)}`;
}

/** The header of a compact JWS, decoded but not yet trusted; null if it is not one. */
export function readJwsHeader(token: string): JwsHeader | null {
  if (token.length > MAX_TOKEN_LENGTH) return null;
  const parts = token.split(".");
  if (parts.length !== 3 || !parts.every(isCanonicalBase64Url)) return null;
  const header = decodeJson(parts[0] ?? "");
  if (!header || typeof header.alg !== "string") return null;
  // Typed members only, and no extension this code does not understand (RFC 7515 §4.1.11).
  if ("crit" in header) return null;
  for (const member of ["typ", "kid"] as const) {
    if (member in header && typeof header[member] !== "string") return null;
  }
  return header as JwsHeader;
}

/**
 * The payload of `token` if its signature verifies under `key` with ES256 and its header says
 * ES256; null otherwise (the claims are the caller's to check).
 */
export async function verifyJws(token: string, key: CryptoKey): Promise<Record<string, unknown> | null> {
  const header = readJwsHeader(token);
  if (header?.alg !== JWS_ALGORITHM) return null;
  const [encodedHeader, encodedPayload, encodedSignature] = token.split(".") as [string, string, string];
  let signature: Uint8Array<ArrayBuffer>;
  try {
    signature = fromBase64Url(encodedSignature);
  } catch {
    return null;
  }
  if (signature.length !== 64 || toBigInt(signature.subarray(32)) > P256_HALF_ORDER) return null;
  const valid = await crypto.subtle.verify(SIGN, key, signature, utf8(`${encodedHeader}.${encodedPayload}`));
  return valid ? decodeJson(encodedPayload) : null;
}

/** Looks like a compact JWS (three base64url parts), as opposed to an opaque session token. */
export function isCompactJws(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}

// The one base64url spelling of some bytes: what decoding then encoding them gives back.
function isCanonicalBase64Url(part: string): boolean {
  try {
    return toBase64Url(fromBase64Url(part)) === part;
  } catch {
    return false;
  }
}

function toBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

function fromBigInt(value: bigint, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = length - 1, rest = value; i >= 0; i--, rest >>= 8n) bytes[i] = Number(rest & 0xffn);
  return bytes;
}

function encodeJson(value: object): string {
  return toBase64Url(utf8(JSON.stringify(value)));
}

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

function decodeJson(part: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(decoder.decode(fromBase64Url(part)));
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}
