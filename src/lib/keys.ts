import { toBase64Url, utf8 } from "./encoding";

/**
 * A key for one purpose, derived from the app's secret (APP_SECRET, at least 32 random bytes) with
 * HKDF-SHA-256: no two purposes share key material, and the secret itself signs nothing.
 */
export async function deriveHmacKey(secret: string, purpose: string): Promise<CryptoKey> {
  const root = await crypto.subtle.importKey("raw", utf8(secret), "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: utf8("edge-users"), info: utf8(purpose) },
    root,
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["sign"],
  );
}

/** HMAC-SHA-256 of a text, base64url. */
export async function hmac(key: CryptoKey, text: string): Promise<string> {
  return toBase64Url(await crypto.subtle.sign("HMAC", key, utf8(text)));
}
