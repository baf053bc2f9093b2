import { decryptText, deriveEncryptionKey, encryptText } from "./keys";

/**
 * The one rule for secrets the service keeps: a value is sealed (AES-256-GCM) under a key derived
 * from APP_SECRET for one purpose, and what the previous secret sealed (APP_SECRET_PREVIOUS, set
 * while a secret is being rotated) still opens. A value opened with the previous secret comes back
 * `stale`, so its owner re-seals it under the current one (lazily, or by `npm run keys:rotate`).
 *
 * Used for: signing keys' private halves, mail queue messages, TOTP and webhook secrets.
 */
export type Sealer = {
  /** base64url of IV || ciphertext; `context` (a row id, a message id) is bound as additional data. */
  seal(plaintext: string, context: string): Promise<string>;
  /**
   * The plaintext, and whether it was sealed under the previous secret; null when neither the
   * current nor the previous secret opens it (or it was sealed for another context or purpose).
   */
  open(sealed: string, context: string): Promise<{ plaintext: string; stale: boolean } | null>;
};

export type AppSecrets = { current: string; previous?: string | undefined };

export function createSealer(secrets: AppSecrets, purpose: string): Sealer {
  let current: Promise<CryptoKey> | undefined;
  let previous: Promise<CryptoKey> | undefined;
  const currentKey = () => (current ??= deriveEncryptionKey(secrets.current, purpose));
  const previousKey = () => (previous ??= deriveEncryptionKey(secrets.previous ?? "", purpose));

  async function tryOpen(key: Promise<CryptoKey>, sealed: string, context: string): Promise<string | null> {
    try {
      return await decryptText(await key, sealed, context);
    } catch {
      return null;
    }
  }

  return {
    async seal(plaintext, context) {
      return encryptText(await currentKey(), plaintext, context);
    },

    async open(sealed, context) {
      const plaintext = await tryOpen(currentKey(), sealed, context);
      if (plaintext !== null) return { plaintext, stale: false };
      if (!secrets.previous || secrets.previous === secrets.current) return null;
      const old = await tryOpen(previousKey(), sealed, context);
      return old === null ? null : { plaintext: old, stale: true };
    },
  };
}
