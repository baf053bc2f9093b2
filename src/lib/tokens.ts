import { toBase64Url, utf8 } from "./encoding";

const TOKEN_BYTES = 32;
// 32 random bytes as unpadded base64url are always 43 characters from this alphabet.
const TOKEN_FORMAT = /^[A-Za-z0-9_-]{43}$/;

/**
 * A new secret token (a session's bearer token, a mailed link's token): 256 random bits,
 * base64url. Given out once, never stored: only its hash is.
 */
export function generateToken(): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(TOKEN_BYTES)));
}

export function isWellFormedToken(token: string): boolean {
  return TOKEN_FORMAT.test(token);
}

/** SHA-256 of a text, base64url: how secrets and personal data become keys. */
export async function sha256(text: string): Promise<string> {
  return toBase64Url(await crypto.subtle.digest("SHA-256", utf8(text)));
}

/** What is stored and looked up instead of a token: its SHA-256. */
export function hashToken(token: string): Promise<string> {
  return sha256(token);
}
