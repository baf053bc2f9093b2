/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): a secret is `whsec_` + standard,
 * padded base64 of 32 random bytes; a delivery is signed with HMAC-SHA256 over
 * `{webhook-id}.{webhook-timestamp}.{body}` keyed by the secret's decoded bytes, sent as
 * `webhook-signature: v1,<base64>`. WebCrypto does the HMAC (no library in the Worker); the tests
 * verify every delivery with the `standardwebhooks` library receivers use.
 */
import { utf8 } from "../lib/encoding";

const PREFIX = "whsec_";
const SECRET_BYTES = 32;

export function newWebhookSecret(): string {
  return PREFIX + toBase64(crypto.getRandomValues(new Uint8Array(SECRET_BYTES)));
}

/** The three Standard Webhooks headers of one attempt. */
export async function signedHeaders(
  secret: string,
  messageId: string,
  timestampSeconds: number,
  body: string,
): Promise<Record<string, string>> {
  const key = await crypto.subtle.importKey(
    "raw",
    fromBase64(secret.slice(PREFIX.length)),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const signature = await crypto.subtle.sign("HMAC", key, utf8(`${messageId}.${timestampSeconds}.${body}`));
  return {
    "webhook-id": messageId,
    "webhook-timestamp": String(timestampSeconds),
    "webhook-signature": `v1,${toBase64(new Uint8Array(signature))}`,
  };
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
