import { timingSafeEqual } from "hono/utils/buffer";
import { fromBase64Url, toBase64Url, utf8 } from "./encoding";

/**
 * Password storage: scrypt (RFC 7914), memory-hard, through `node:crypto`, which workerd
 * implements natively (nodejs_compat) and Node runs on its thread pool: the Worker, the Node host
 * and the CLIs hash and verify alike. Stored as a PHC-style string with its parameters,
 * `$scrypt$ln=14,r=8,p=5$<salt>$<hash>` (`,pepper=1` when peppered), so they can be raised later:
 * `verify` reports `needsRehash` for a hash made with other settings, and sign-in re-hashes it.
 * Hashes from before scrypt (`$pbkdf2-sha256$…`) still verify, and are re-hashed the same way.
 */
export type ScryptParams = {
  /** log2 of N, the CPU/memory cost. */
  logN: number;
  /** Block size. */
  r: number;
  /** Parallelism: workerd runs the lanes one after another, on the request's own thread. */
  p: number;
};

/**
 * OWASP's scrypt row N=2^14, r=8, p=5: 16 MiB per hash (128·r·N bytes; the lanes share it), about
 * 150 ms of CPU in workerd here. The rows with more memory cost 200 to 800 ms, and N=2^17 alone
 * fills a Worker's 128 MB (docs/security.md#passwords has the measurements).
 */
export const DEFAULT_SCRYPT: ScryptParams = { logN: 14, r: 8, p: 5 };

/**
 * N=2^10, r=8, p=1: 1 MiB and about 2 ms a hash, for test suites against a service on this machine
 * (`PASSWORD_HASH_COST=low`, refused by configuration with any other APP_URL). Hashes record their
 * parameters, so one made at either cost verifies under the other (and is re-hashed at sign-in).
 */
export const LOW_SCRYPT: ScryptParams = { logN: 10, r: 8, p: 1 };

/** The parameters new hashes get at each `PASSWORD_HASH_COST`. */
export const SCRYPT_BY_COST = { standard: DEFAULT_SCRYPT, low: LOW_SCRYPT } as const satisfies Record<
  string,
  ScryptParams
>;

// workerd refuses N·r·p above 2^20 (the work cannot be interrupted once started); a stored hash
// asking for more is refused before any work, so a tampered row cannot buy a long computation.
const MAX_SCRYPT_COST = 2 ** 20;
// Node's and workerd's default (32 MiB), stated: the default row needs 16 MiB.
const SCRYPT_MAX_MEMORY = 32 * 1024 * 1024;
const SALT_BYTES = 16;
const KEY_BYTES = 32;

// node:crypto is loaded with the first hash, not at start-up: in workerd its module graph costs an
// isolate about 13 ms of start-up CPU (wrangler check startup), and most isolates only serve reads.
let scryptModule: Promise<typeof import("node:crypto").scrypt> | undefined;
const loadScrypt = () => (scryptModule ??= import("node:crypto").then((crypto) => crypto.scrypt));

/**
 * The key derivations, behind one object so tests can count them (a sign-in does exactly one,
 * known account or not). Nothing else should replace these.
 */
export const keyDerivation = {
  async scrypt(password: Uint8Array, salt: Uint8Array, { logN, r, p }: ScryptParams): Promise<Uint8Array> {
    const scrypt = await loadScrypt();
    return new Promise((resolve, reject) => {
      scrypt(password, salt, KEY_BYTES, { N: 2 ** logN, r, p, maxmem: SCRYPT_MAX_MEMORY }, (error, key) =>
        error ? reject(error) : resolve(new Uint8Array(key)),
      );
    });
  },

  async pbkdf2(password: Uint8Array<ArrayBuffer>, salt: Uint8Array<ArrayBuffer>, iterations: number) {
    const material = await crypto.subtle.importKey("raw", password, "PBKDF2", false, ["deriveBits"]);
    const bits = await crypto.subtle.deriveBits(
      { name: "PBKDF2", hash: "SHA-256", salt, iterations },
      material,
      KEY_BYTES * 8,
    );
    return new Uint8Array(bits);
  },
};

export type PasswordHasherOptions = {
  scrypt?: ScryptParams;
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

// How a hash was (or is to be) derived; a stored hash adds the result.
type Derivation =
  | { algorithm: "scrypt"; params: ScryptParams; peppered: boolean; salt: Uint8Array<ArrayBuffer> }
  | { algorithm: "pbkdf2"; iterations: number; peppered: boolean; salt: Uint8Array<ArrayBuffer> };
type StoredHash = Derivation & { hash: Uint8Array };

export function createPasswordHasher(options: PasswordHasherOptions = {}): PasswordHasher {
  const params = options.scrypt ?? DEFAULT_SCRYPT;
  const pepper = options.pepper || undefined;
  if (!acceptable(params)) throw new RangeError("scrypt parameters out of range (N·r·p at most 2^20, 16 MiB+ fits)");
  let pepperKey: Promise<CryptoKey> | undefined;
  const dummySalt = new Uint8Array(SALT_BYTES);

  async function keyMaterial(password: string, peppered: boolean): Promise<Uint8Array<ArrayBuffer>> {
    if (!peppered) return utf8(password);
    if (!pepper) throw new Error("password hash needs a pepper, but none is configured");
    pepperKey ??= crypto.subtle.importKey("raw", utf8(pepper), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return new Uint8Array(await crypto.subtle.sign("HMAC", await pepperKey, utf8(password)));
  }

  async function derive(password: string, stored: Derivation): Promise<Uint8Array> {
    const material = await keyMaterial(password, stored.peppered);
    return stored.algorithm === "scrypt"
      ? keyDerivation.scrypt(material, stored.salt, stored.params)
      : keyDerivation.pbkdf2(material, stored.salt, stored.iterations);
  }

  return {
    async hash(password) {
      const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
      const peppered = pepper !== undefined;
      const hash = await derive(password, { algorithm: "scrypt", params, peppered, salt });
      const settings = `ln=${params.logN},r=${params.r},p=${params.p}${peppered ? ",pepper=1" : ""}`;
      return `$scrypt$${settings}$${toBase64Url(salt)}$${toBase64Url(hash)}`;
    },

    async verify(password, stored) {
      const parsed = stored === null ? null : parseHash(stored);
      if (parsed === null) {
        // Same work as a real check, then a guaranteed "no".
        await derive(password, { algorithm: "scrypt", params, peppered: pepper !== undefined, salt: dummySalt });
        return { valid: false, needsRehash: false };
      }
      const candidate = await derive(password, parsed);
      const valid = await timingSafeEqual(toBase64Url(candidate), toBase64Url(parsed.hash));
      const current =
        parsed.algorithm === "scrypt" &&
        parsed.params.logN === params.logN &&
        parsed.params.r === params.r &&
        parsed.params.p === params.p &&
        parsed.peppered === (pepper !== undefined);
      return { valid, needsRehash: valid && !current };
    },
  };
}

function acceptable({ logN, r, p }: ScryptParams): boolean {
  const whole = [logN, r, p].every((value) => Number.isInteger(value) && value >= 1);
  return (
    whole && logN <= 20 && 2 ** logN * r * p <= MAX_SCRYPT_COST && 128 * r * (2 ** logN + p + 1) <= SCRYPT_MAX_MEMORY
  );
}

const SCRYPT_FORMAT =
  /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,3})(,pepper=1)?\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/;
const PBKDF2_FORMAT = /^\$pbkdf2-sha256\$i=(\d{1,7}),p=([01])\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/;
// Cloudflare's runtime refuses PBKDF2 above 100,000 iterations, the most any legacy hash used.
const PBKDF2_MAX_ITERATIONS = 100_000;

// A stored hash, or null for anything malformed or asking for more work than is allowed.
function parseHash(stored: string): StoredHash | null {
  const scryptMatch = SCRYPT_FORMAT.exec(stored);
  if (scryptMatch) {
    const [, logN, r, p, pepper, salt, hash] = scryptMatch as unknown as string[];
    const params = { logN: Number(logN), r: Number(r), p: Number(p) };
    if (!acceptable(params)) return null;
    return {
      algorithm: "scrypt",
      params,
      peppered: pepper !== undefined,
      salt: fromBase64Url(salt as string),
      hash: fromBase64Url(hash as string),
    };
  }
  const pbkdf2Match = PBKDF2_FORMAT.exec(stored);
  if (pbkdf2Match) {
    const [, rounds, peppered, salt, hash] = pbkdf2Match as unknown as string[];
    const iterations = Number(rounds);
    if (iterations < 1 || iterations > PBKDF2_MAX_ITERATIONS) return null;
    return {
      algorithm: "pbkdf2",
      iterations,
      peppered: peppered === "1",
      salt: fromBase64Url(salt as string),
      hash: fromBase64Url(hash as string),
    };
  }
  return null;
}
