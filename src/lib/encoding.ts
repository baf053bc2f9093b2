import { decodeBase64Url, encodeBase64Url } from "hono/utils/encode";

/** Unpadded base64url (RFC 4648 §5), the form that goes into tokens, hashes and cursors. */
export function toBase64Url(bytes: ArrayBuffer | Uint8Array): string {
  return encodeBase64Url(bytes instanceof Uint8Array ? bytes.slice().buffer : bytes).replace(/=+$/, "");
}

/** Decodes unpadded or padded base64url; throws on anything that is not base64url. */
export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(text)) throw new TypeError("not base64url");
  const unpadded = text.replace(/=+$/, "");
  return ownBuffer(decodeBase64Url(unpadded.padEnd(Math.ceil(unpadded.length / 4) * 4, "=")));
}

const encoder = new TextEncoder();

export function utf8(text: string): Uint8Array<ArrayBuffer> {
  return ownBuffer(encoder.encode(text));
}

// WebCrypto's types want bytes over a plain ArrayBuffer; Node's and Hono's helpers promise less.
function ownBuffer(view: Uint8Array): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(new ArrayBuffer(view.length));
  bytes.set(view);
  return bytes;
}
