import { timingSafeEqual } from "hono/utils/buffer";
import { fromBase64Url, toBase64Url, utf8 } from "./encoding";

/**
 * Cloudflare's runtime refuses PBKDF2 above 100,000 iterations (workerd throws
 * NotSupportedError), so this is the most it can do; test/password.test.ts proves the limit.
 */
export const PBKDF2_MAX_ITERATIONS = 100_000;
const ALGORITHM = "pbkdf2-sha256";
const SALT_BYTES = 16;
const KEY_BYTES = 32;

export type PasswordHasherOptions = {
  iterations?: number;
  /** Optional server-side secret mixed in with HMAC-SHA-256 before key stretching. */
  pepper?: string | undefined;
};

export type PasswordCheck = { valid: boolean; needsRehash: boolean };

export type PasswordHasher = {
  hash(password: string): Promise<string>;
  /**
   * Checks a password against a stored hash. With `stored` null (unknown account) it still does
   * the full key derivation and answers invalid, so callers take the same time either way.
   */
  verify(password: string, stored: string | null): Promise<PasswordCheck>;
};

type ParsedHash = {
  iterations: number;
  peppered: boolean;
  salt: Uint8Array<ArrayBuffer>;
  hash: Uint8Array<ArrayBuffer>;
};

/**
 * PBKDF2-SHA-256 through WebCrypto, stored as a PHC-style string
 * `$pbkdf2-sha256$i=<iterations>,p=<0|1>$<salt>$<hash>` so parameters can be raised later:
 * `verify` reports `needsRehash` when a stored hash is weaker than the current settings.
 */
export function createPasswordHasher(options: PasswordHasherOptions = {}): PasswordHasher {
  const iterations = options.iterations ?? PBKDF2_MAX_ITERATIONS;
  const pepper = options.pepper || undefined;
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > PBKDF2_MAX_ITERATIONS) {
    throw new RangeError(`PBKDF2 iterations must be 1..${PBKDF2_MAX_ITERATIONS}`);
  }
  let pepperKey: Promise<CryptoKey> | undefined;
  const dummySalt = new Uint8Array(SALT_BYTES);

  async function keyMaterial(password: string, peppered: boolean): Promise<Uint8Array<ArrayBuffer>> {
    if (!peppered) return utf8(password);
    if (!pepper) throw new Error("password hash needs a pepper, but none is configured");
    pepperKey ??= crypto.subtle.importKey("raw", utf8(pepper), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return new Uint8Array(await crypto.subtle.sign("HMAC", await pepperKey, utf8(password)));
  }

  async function derive(password: string, salt: Uint8Array<ArrayBuffer>, rounds: number, peppered: boolean) {
    const material = await crypto.subtle.importKey("raw", await keyMaterial(password, peppered), "PBKDF2", false, [
      "deriveBits",
    ]);
    const bits = await crypto.subtle.deriveBits(
      { name: "PBKDF2", hash: "SHA-256", salt, iterations: rounds },
      material,
      KEY_BYTES * 8,
    );
    return new Uint8Array(bits);
  }

  return {
    async hash(password) {
      const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
      const hash = await derive(password, salt, iterations, pepper !== undefined);
      return `$${ALGORITHM}$i=${iterations},p=${pepper ? 1 : 0}$${toBase64Url(salt)}$${toBase64Url(hash)}`;
    },

    async verify(password, stored) {
      const parsed = stored === null ? null : parseHash(stored);
      if (parsed === null) {
        // Same work as a real check, then a guaranteed "no".
        await derive(password, dummySalt, iterations, pepper !== undefined);
        return { valid: false, needsRehash: false };
      }
      const candidate = await derive(password, parsed.salt, parsed.iterations, parsed.peppered);
      const valid = await timingSafeEqual(toBase64Url(candidate), toBase64Url(parsed.hash));
      const weaker = parsed.iterations < iterations || parsed.peppered !== (pepper !== undefined);
      return { valid, needsRehash: valid && weaker };
    },
  };
}

const HASH_FORMAT = /^\$pbkdf2-sha256\$i=(\d{1,7}),p=([01])\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/;

function parseHash(stored: string): ParsedHash | null {
  const match = HASH_FORMAT.exec(stored);
  if (!match) return null;
  const [, rounds, peppered, salt, hash] = match as unknown as [string, string, string, string, string];
  const iterations = Number(rounds);
  if (iterations < 1 || iterations > PBKDF2_MAX_ITERATIONS) return null;
  return { iterations, peppered: peppered === "1", salt: fromBase64Url(salt), hash: fromBase64Url(hash) };
}
