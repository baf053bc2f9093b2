import { fromBase64Url, toBase64Url, utf8 } from "./encoding";

/**
 * A key for one purpose, derived from the app's secret (APP_SECRET, at least 32 random bytes) with
 * HKDF-SHA-256: no two purposes share key material, and the secret itself signs nothing.
 */
export function deriveHmacKey(secret: string, purpose: string): Promise<CryptoKey> {
  return derive(secret, purpose, { name: "HMAC", hash: "SHA-256", length: 256 }, ["sign"]);
}

/** An AES-256-GCM key for one purpose, derived from the app's secret the same way. */
export function deriveEncryptionKey(secret: string, purpose: string): Promise<CryptoKey> {
  return derive(secret, purpose, { name: "AES-GCM", length: 256 }, ["encrypt", "decrypt"]);
}

async function derive(
  secret: string,
  purpose: string,
  algorithm: { name: "HMAC"; hash: string; length: number } | { name: "AES-GCM"; length: number },
  usages: string[],
): Promise<CryptoKey> {
  const root = await crypto.subtle.importKey("raw", utf8(secret), "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: utf8("edge-users"), info: utf8(purpose) },
    root,
    algorithm,
    false,
    usages,
  );
}

/**
 * AES-GCM with a fresh 96-bit IV; `context` (say, a key id) is bound as additional data, so a
 * ciphertext moved to another row does not decrypt. Returns base64url of IV || ciphertext.
 */
export async function encryptText(key: CryptoKey, plaintext: string, context: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: utf8(context) },
    key,
    utf8(plaintext),
  );
  const out = new Uint8Array(iv.length + sealed.byteLength);
  out.set(iv);
  out.set(new Uint8Array(sealed), iv.length);
  return toBase64Url(out);
}

/** The reverse of encryptText; throws if the key, the context or the ciphertext is not the one sealed. */
export async function decryptText(key: CryptoKey, sealed: string, context: string): Promise<string> {
  const bytes = fromBase64Url(sealed);
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: bytes.slice(0, 12), additionalData: utf8(context) },
    key,
    bytes.slice(12),
  );
  return new TextDecoder().decode(plain);
}

/** HMAC-SHA-256 of a text, base64url. */
export async function hmac(key: CryptoKey, text: string): Promise<string> {
  return toBase64Url(await crypto.subtle.sign("HMAC", key, utf8(text)));
}
