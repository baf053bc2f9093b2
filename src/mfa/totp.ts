/**
 * TOTP (RFC 6238) as the contract fixes it: SHA-1, 6 digits, 30 s steps, a 160-bit secret in
 * base32, a window of one step either side. The HOTP computation is @oslojs/otp's (RFC 4226);
 * this module chooses the steps and says which one matched, so the caller can refuse a code of
 * that step or an earlier one once a later one was used (no replay inside the window: the step is
 * stored atomically, in SQL, by whoever consumes it).
 */
import { decodeBase32IgnorePadding, encodeBase32UpperCaseNoPadding } from "@oslojs/encoding";
import { createTOTPKeyURI, generateHOTP } from "@oslojs/otp";

const TOTP_PERIOD_SECONDS = 30;
const TOTP_DIGITS = 6;
const SECRET_BYTES = 20; // 160 bits
const CODE = /^\d{6}$/;

/** A fresh secret: 160 random bits, base32 (what authenticator apps take). */
export function newTotpSecret(): string {
  return encodeBase32UpperCaseNoPadding(crypto.getRandomValues(new Uint8Array(SECRET_BYTES)));
}

/** The `otpauth://totp/…` URI an authenticator app reads from a QR code. */
export function totpUri(secret: string, issuer: string, account: string): string {
  return createTOTPKeyURI(issuer, account, decodeBase32IgnorePadding(secret), TOTP_PERIOD_SECONDS, TOTP_DIGITS);
}

/** The step a moment falls in (RFC 6238's T). */
export function totpStep(at: Date): number {
  return Math.floor(at.getTime() / 1000 / TOTP_PERIOD_SECONDS);
}

/** The code of one step (for tests and the docs' one-line command). */
export function totpCode(secret: string, step: number, digits = TOTP_DIGITS): string {
  return generateHOTP(decodeBase32IgnorePadding(secret), BigInt(step), digits);
}

/**
 * The step `code` is valid for, within one step of `at` and later than `lastUsedStep`; null
 * otherwise. Every candidate is compared, in constant time, so the timing says nothing about which.
 */
export function matchTotp(secret: string, code: string, at: Date, lastUsedStep: number | null): number | null {
  if (!CODE.test(code)) return null;
  const key = decodeBase32IgnorePadding(secret);
  const now = totpStep(at);
  let matched: number | null = null;
  for (const step of [now - 1, now, now + 1]) {
    const same = constantTimeEqual(generateHOTP(key, BigInt(step), TOTP_DIGITS), code);
    if (same && matched === null && (lastUsedStep === null || step > lastUsedStep)) matched = step;
  }
  return matched;
}

function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}
