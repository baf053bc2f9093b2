/**
 * The second factor's algorithms (src/mfa/): TOTP checked against RFC 6238's own test vectors,
 * its window and replay rule, and recovery codes' shape, entropy and keyed hashing.
 */
import { encodeBase32UpperCaseNoPadding } from "@oslojs/encoding";
import { describe, expect, it } from "vitest";
import { deriveHmacKey } from "../src/lib/keys";
import { newRecoveryCodes, normalizeRecoveryCode, recoveryCodeHash } from "../src/mfa/recovery-codes";
import { matchTotp, newTotpSecret, totpCode, totpStep, totpUri } from "../src/mfa/totp";

// RFC 6238, Appendix B: the SHA-1 seed "12345678901234567890" and 8-digit codes.
const RFC_SECRET = encodeBase32UpperCaseNoPadding(new TextEncoder().encode("12345678901234567890"));
const RFC_VECTORS: [number, string][] = [
  [59, "94287082"],
  [1111111109, "07081804"],
  [1111111111, "14050471"],
  [1234567890, "89005924"],
  [2000000000, "69279037"],
  [20000000000, "65353130"],
];

describe("TOTP (RFC 6238)", () => {
  it.each(RFC_VECTORS)("at %i s the SHA-1 code is %s", (seconds, code) => {
    expect(totpCode(RFC_SECRET, totpStep(new Date(seconds * 1000)), 8)).toBe(code);
  });

  it("six digits are the last six of the eight (RFC 4226 truncation)", () => {
    expect(totpCode(RFC_SECRET, totpStep(new Date(59_000)))).toBe("287082");
  });

  it("a code is accepted one step either side, not two; the step it matched is returned", () => {
    const secret = newTotpSecret();
    const at = new Date(1_700_000_015_000);
    const step = totpStep(at);
    expect(matchTotp(secret, totpCode(secret, step), at, null)).toBe(step);
    expect(matchTotp(secret, totpCode(secret, step - 1), at, null)).toBe(step - 1);
    expect(matchTotp(secret, totpCode(secret, step + 1), at, null)).toBe(step + 1);
    expect(matchTotp(secret, totpCode(secret, step - 2), at, null)).toBeNull();
    expect(matchTotp(secret, totpCode(secret, step + 2), at, null)).toBeNull();
  });

  it("no replay: the step used, or an earlier one, is refused after it", () => {
    const secret = newTotpSecret();
    const at = new Date(1_700_000_015_000);
    const step = totpStep(at);
    expect(matchTotp(secret, totpCode(secret, step), at, step)).toBeNull();
    expect(matchTotp(secret, totpCode(secret, step - 1), at, step)).toBeNull();
    expect(matchTotp(secret, totpCode(secret, step + 1), at, step)).toBe(step + 1);
  });

  it("refuses anything that is not six digits, before any work", () => {
    const secret = newTotpSecret();
    for (const code of ["", "12345", "1234567", "12345a", " 123456", "１２３４５６"]) {
      expect(matchTotp(secret, code, new Date(), null)).toBeNull();
    }
  });

  it("secrets are 160 random bits in base32; the otpauth URI names the issuer and the account", () => {
    const secret = newTotpSecret();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(newTotpSecret()).not.toBe(secret);
    const uri = new URL(totpUri(secret, "edge-users", "ann@example.com"));
    expect(uri.protocol).toBe("otpauth:");
    expect(uri.searchParams.get("secret")).toBe(secret);
    expect(uri.searchParams.get("issuer")).toBe("edge-users");
    expect(uri.searchParams.get("digits")).toBe("6");
    expect(uri.searchParams.get("period")).toBe("30");
    expect(decodeURIComponent(uri.pathname)).toContain("ann@example.com");
  });
});

describe("recovery codes", () => {
  it("ten distinct codes of the form xxxxx-xxxxx (50 bits of base32 each)", () => {
    const codes = newRecoveryCodes();
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[a-z2-7]{5}-[a-z2-7]{5}$/);
  });

  it("typed any way (case, spaces, no dash) they normalise to the stored form; anything else is refused", () => {
    expect(normalizeRecoveryCode(" ABCDE fghij ")).toBe("abcde-fghij");
    expect(normalizeRecoveryCode("abcdefghij")).toBe("abcde-fghij");
    for (const bad of ["abcde-fghi", "abcde-fghij1", "abcd1-fghij", ""]) expect(normalizeRecoveryCode(bad)).toBeNull();
  });

  it("are stored as keyed hashes: the same code and key give the same hash, another key another", async () => {
    const [code = ""] = newRecoveryCodes();
    const key = await deriveHmacKey("a-secret-of-at-least-thirty-two-characters", "mfa-recovery-codes");
    const other = await deriveHmacKey("another-secret-of-at-least-thirty-two-chars", "mfa-recovery-codes");
    expect(await recoveryCodeHash(key, code)).toBe(await recoveryCodeHash(key, code));
    expect(await recoveryCodeHash(key, code)).not.toBe(await recoveryCodeHash(other, code));
    expect(await recoveryCodeHash(key, code)).not.toContain(code.replace("-", ""));
  });
});
