import { fromBase64Url, toBase64Url, utf8 } from "../lib/encoding";
import { ID_PATTERN, newId } from "../lib/ids";
import { deriveHmacKey } from "../lib/keys";
import type { AppSecrets } from "../lib/sealing";

// 96 bits: a forged kid is one guess in 2^96, and each guess costs a request.
const MAC_BYTES = 12;
const PURPOSE = "signing-key-ids";

/**
 * Key ids that prove they are ours: `<uuidv7>.<mac>`, the MAC (HMAC-SHA-256 under a key derived
 * from APP_SECRET, truncated) over the UUID. A token naming a kid this isolate has not loaded makes
 * it read the keys again only when the kid is genuine and newer than its copy, so a stream of
 * made-up kids costs no database read (docs/tokens.md#key-ids-and-the-unknown-kid-bound).
 */
export type KeyIds = {
  /** A new kid, minted under the current secret. */
  make(): Promise<string>;
  /** When a genuine kid was minted (its UUIDv7 time), under APP_SECRET or APP_SECRET_PREVIOUS; null for any other. */
  mintedAt(kid: string): Promise<number | null>;
};

export function createKeyIds(secrets: AppSecrets): KeyIds {
  const derived = new Map<string, Promise<CryptoKey>>();
  const keyFor = (secret: string) => {
    let key = derived.get(secret);
    if (!key) {
      key = deriveHmacKey(secret, PURPOSE);
      derived.set(secret, key);
    }
    return key;
  };
  const macOf = async (secret: string, id: string) =>
    new Uint8Array(await crypto.subtle.sign("HMAC", await keyFor(secret), utf8(id))).slice(0, MAC_BYTES);

  return {
    async make() {
      const id = newId();
      return `${id}.${toBase64Url(await macOf(secrets.current, id))}`;
    },

    async mintedAt(kid) {
      const [id = "", mac = "", ...rest] = kid.split(".");
      if (rest.length > 0 || !ID_PATTERN.test(id) || mac.length !== Math.ceil((MAC_BYTES * 4) / 3)) return null;
      let given: Uint8Array;
      try {
        given = fromBase64Url(mac);
      } catch {
        return null;
      }
      const candidates = [secrets.current, ...(secrets.previous ? [secrets.previous] : [])];
      for (const secret of candidates) {
        if (sameBytes(given, await macOf(secret, id))) return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
      }
      return null;
    },
  };
}

// In constant time: how long a comparison takes says nothing of where the bytes differ.
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return difference === 0;
}
