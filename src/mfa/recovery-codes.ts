/**
 * Recovery codes as the contract fixes them: 10 codes of 50 random bits, shown as `xxxxx-xxxxx`
 * (base32, no look-alike ambiguity worth a custom alphabet), stored only as HMAC-SHA-256 under a key
 * derived from APP_SECRET (`mfa-recovery-codes`), so a copy of the database alone cannot
 * brute-force them. A code is looked up by its keyed hash (an index, not a comparison loop), and
 * consumed in the statement that finds it.
 */
import { encodeBase32LowerCaseNoPadding } from "@oslojs/encoding";
import { hmac } from "../lib/keys";

const RECOVERY_CODE_COUNT = 10;
const CODE_BYTES = 7; // 56 random bits, shown as 10 of its base32 characters (50 bits)

export function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    const text = encodeBase32LowerCaseNoPadding(crypto.getRandomValues(new Uint8Array(CODE_BYTES))).slice(0, 10);
    return `${text.slice(0, 5)}-${text.slice(5)}`;
  });
}

/** A code as typed: case, spaces and the dash do not matter. Null for anything that is not one. */
export function normalizeRecoveryCode(input: string): string | null {
  const compact = input.toLowerCase().replace(/[\s-]/g, "");
  return /^[a-z2-7]{10}$/.test(compact) ? `${compact.slice(0, 5)}-${compact.slice(5)}` : null;
}

/** The keyed hash a code is stored and looked up as. */
export function recoveryCodeHash(key: CryptoKey, code: string): Promise<string> {
  return hmac(key, code);
}
