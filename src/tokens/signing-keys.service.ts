import type { AuditEvents } from "../audit/audit.events";
import type { SigningKeyRow } from "../db/schema";
import { rootCauseMessage } from "../lib/errors";
import { newId } from "../lib/ids";
import { generateSigningKeyPair, importPrivateKey, importPublicKey, type PublicJwk } from "../lib/jws";
import { decryptText, encryptText } from "../lib/keys";
import { log } from "../lib/log";
import type { SigningKeysRepository } from "./signing-keys.repository";

/**
 * The timing of key rotation. A new key is published `publishAheadMs` before it signs: longer than
 * the JWK Set's `max-age` (5 min), this service's own key refresh (5 min) and the JWKS cache of
 * common verifiers (jose: 10 min), so every verifier has it before the first token it signs. A key
 * that no longer signs stays published until every token it signed has expired: the longest
 * access-token lifetime plus the verification leeway.
 */
export const KEY_TIMING = {
  publishAheadMs: 60 * 60_000,
  maxTokenLifetimeMs: 3600_000,
  leewayMs: 30_000,
  /**
   * How old this isolate's copy of the key set may get before it is read again: one D1 query per
   * isolate every five minutes, whatever the traffic (keys change once a month, and announce
   * themselves an hour ahead).
   */
  refreshMs: 5 * 60_000,
  /** A token naming a key this isolate does not know makes it reload at most this often. */
  unknownKidReloadMs: 10_000,
} as const;

/** The key that signs at `now`: the newest whose `signsFrom` has come. */
function signingKeyAt<K extends Pick<SigningKeyRow, "signsFrom">>(keys: K[], now: Date): K | undefined {
  let current: K | undefined;
  for (const key of keys) if (key.signsFrom <= now && (!current || key.signsFrom >= current.signsFrom)) current = key;
  return current;
}

/** What maintenance is due at `now`, from the keys alone (a pure function, tested with a moved clock). */
export function keyPlan(
  keys: SigningKeyRow[],
  now: Date,
  { rotationIntervalMs, rotationRequested }: { rotationIntervalMs: number; rotationRequested: boolean },
) {
  const sorted = [...keys].sort((a, b) => a.signsFrom.getTime() - b.signsFrom.getTime());
  const current = signingKeyAt(sorted, now);
  const waiting = sorted.some((key) => key.signsFrom > now);
  const due = current && now.getTime() - current.signsFrom.getTime() >= rotationIntervalMs - KEY_TIMING.publishAheadMs;
  const retiredAt = (index: number) => sorted[index + 1]?.signsFrom.getTime();
  const dropPrivate: string[] = [];
  const remove: string[] = [];
  sorted.forEach((key, index) => {
    const until = retiredAt(index);
    if (until === undefined || until > now.getTime()) return;
    if (key.encryptedPrivateJwk !== null) dropPrivate.push(key.kid);
    if (until + KEY_TIMING.maxTokenLifetimeMs + KEY_TIMING.leewayMs <= now.getTime()) remove.push(key.kid);
  });
  return { scheduleNext: Boolean(current) && !waiting && (rotationRequested || Boolean(due)), dropPrivate, remove };
}

/** The signing keys as one isolate holds them: read from the database at most every five minutes. */
export type KeyCache = {
  loaded?: { keys: SigningKeyRow[]; at: number };
  loading?: Promise<SigningKeyRow[]>;
  verifiers: Map<string, Promise<CryptoKey>>;
  signers: Map<string, Promise<CryptoKey>>;
  lastUnknownKidReload: number;
};

export function createKeyCache(): KeyCache {
  return { verifiers: new Map(), signers: new Map(), lastUnknownKidReload: 0 };
}

export type SigningKeysService = {
  /** The key that signs now, made on first use when there is none (a fresh database). */
  signer(): Promise<{ kid: string; key: CryptoKey }>;
  /** The public key `kid` names, if it is published; an unknown kid makes a (rate-limited) reload. */
  verifier(kid: string): Promise<CryptoKey | null>;
  /** Every published public key: the JWK Set. */
  publicKeys(): Promise<PublicJwk[]>;
  /** The cron's work: schedule the next key when due or asked, drop retired private keys, remove old keys. */
  maintain(): Promise<{ scheduled: string | null; privateKeysDropped: number; keysRemoved: number }>;
  /** Asks for a rotation at the next maintenance (the next key refresh of any isolate, or the cron). */
  requestRotation(): Promise<void>;
};

export type SigningKeysServiceDeps = {
  repository: SigningKeysRepository;
  cache: KeyCache;
  /** The AES-GCM key private keys are encrypted under (derived from APP_SECRET). */
  encryptionKey: () => Promise<CryptoKey>;
  rotationIntervalMs: number;
  /** A new key (`signing_key.rotated`) is recorded in the batch that stores it. */
  events?: AuditEvents;
  /** Work after the response (ctx.waitUntil). */
  defer: (task: Promise<unknown>) => void;
  now?: () => Date;
};

export function createSigningKeysService({
  repository,
  cache,
  encryptionKey,
  rotationIntervalMs,
  events,
  defer,
  now = () => new Date(),
}: SigningKeysServiceDeps): SigningKeysService {
  // Stores `key` as the next one, with its event (the service rotates, nobody signed in does).
  function insertNext(key: SigningKeyRow, at: Date, reason: "scheduled" | "requested" | "undecryptable") {
    const write = () => repository.insertNext(key, at);
    if (!events) return write();
    const data = { reason, signsFrom: key.signsFrom.toISOString() };
    return events.recording(
      { type: "signing_key.rotated", actorId: null, target: { type: "signing_key", id: key.kid }, data },
      write,
    );
  }

  async function newKey(signsFrom: Date): Promise<SigningKeyRow> {
    const kid = newId();
    const { publicJwk, privateJwk } = await generateSigningKeyPair(kid);
    return {
      kid,
      publicJwk: JSON.stringify(publicJwk),
      encryptedPrivateJwk: await encryptText(await encryptionKey(), privateJwk, kid),
      createdAt: now(),
      signsFrom,
    };
  }

  async function reload(): Promise<SigningKeyRow[]> {
    cache.loading ??= repository
      .load()
      .then(({ keys, rotationRequested }) => {
        cache.loaded = { keys, at: Date.now() };
        // A requested rotation is made by whoever sees it first, after its response.
        if (rotationRequested) defer(maintain().catch(logFailure("key rotation")));
        return keys;
      })
      .finally(() => {
        cache.loading = undefined;
      });
    return cache.loading;
  }

  async function keys(): Promise<SigningKeyRow[]> {
    const loaded = cache.loaded;
    if (loaded && Date.now() - loaded.at < KEY_TIMING.refreshMs) return loaded.keys;
    return reload();
  }

  async function maintain() {
    const at = now();
    const { keys: current, rotationRequested } = await repository.load();
    if (current.length === 0) {
      await repository.insertFirst(await newKey(at));
      return { scheduled: null, privateKeysDropped: 0, keysRemoved: 0 };
    }
    const plan = keyPlan(current, at, { rotationIntervalMs, rotationRequested });
    let scheduled: string | null = null;
    if (plan.scheduleNext) {
      const next = await newKey(new Date(at.getTime() + KEY_TIMING.publishAheadMs));
      if (await insertNext(next, at, rotationRequested ? "requested" : "scheduled")) scheduled = next.kid;
    } else if (rotationRequested) {
      // A key is waiting already: the request is answered by it.
      await repository.clearRotationRequest();
    }
    await repository.dropPrivateKeys(plan.dropPrivate);
    await repository.remove(plan.remove);
    cache.loaded = undefined;
    if (scheduled)
      log("info", "signing key scheduled", { kid: scheduled, signsFromMs: at.getTime() + KEY_TIMING.publishAheadMs });
    return { scheduled, privateKeysDropped: plan.dropPrivate.length, keysRemoved: plan.remove.length };
  }

  function privateKeyOf(key: SigningKeyRow): Promise<CryptoKey> {
    let signer = cache.signers.get(key.kid);
    if (!signer) {
      const sealed = key.encryptedPrivateJwk ?? "";
      signer = encryptionKey().then(async (secret) => {
        const jwk = await decryptText(secret, sealed, key.kid).catch((error: unknown) => {
          throw new UndecryptableKeyError(key.kid, error);
        });
        return importPrivateKey(jwk);
      });
      cache.signers.set(key.kid, signer);
      signer.catch(() => cache.signers.delete(key.kid));
    }
    return signer;
  }

  function verifierOf(key: SigningKeyRow): Promise<CryptoKey> {
    let verifier = cache.verifiers.get(key.kid);
    if (!verifier) {
      verifier = importPublicKey(JSON.parse(key.publicJwk) as PublicJwk);
      cache.verifiers.set(key.kid, verifier);
    }
    return verifier;
  }

  return {
    async signer() {
      let set = await keys();
      if (set.length === 0) {
        // A fresh database: the first key signs at once (no token exists that a verifier could
        // hold, so there is nothing to publish ahead of).
        await repository.insertFirst(await newKey(now()));
        set = await reload();
      }
      const current = signingKeyAt(set, now());
      if (!current?.encryptedPrivateJwk) throw new Error("no signing key can sign now");
      try {
        return { kid: current.kid, key: await privateKeyOf(current) };
      } catch (error) {
        if (!(error instanceof UndecryptableKeyError)) throw error;
        // The private key does not decrypt: APP_SECRET was changed. A key already waiting to sign
        // (published, so verifiers have it) takes over if it decrypts; otherwise a new key takes
        // over at once (only one, whichever isolate gets there first). Tokens already issued still
        // verify until they expire.
        log("error", "the signing key does not decrypt (APP_SECRET changed?); replacing it", {
          kid: current.kid,
          error: rootCauseMessage(error),
        });
        for (const waiting of set.filter((key) => key.signsFrom > current.signsFrom && key.encryptedPrivateJwk)) {
          const key = await privateKeyOf(waiting).catch(() => null);
          if (key) return { kid: waiting.kid, key };
        }
        await insertNext(await newKey(now()), current.signsFrom, "undecryptable");
        const replacement = signingKeyAt(await reload(), now());
        if (!replacement || replacement.kid === current.kid) throw error;
        return { kid: replacement.kid, key: await privateKeyOf(replacement) };
      }
    },

    async verifier(kid) {
      let key = (await keys()).find((candidate) => candidate.kid === kid);
      if (!key && Date.now() - cache.lastUnknownKidReload >= KEY_TIMING.unknownKidReloadMs) {
        cache.lastUnknownKidReload = Date.now();
        key = (await reload()).find((candidate) => candidate.kid === kid);
      }
      return key ? verifierOf(key) : null;
    },

    async publicKeys() {
      return (await keys()).map((key) => JSON.parse(key.publicJwk) as PublicJwk);
    },

    maintain,

    requestRotation() {
      return repository.requestRotation(now());
    },
  };
}

function logFailure(what: string) {
  return (error: unknown) => log("error", `${what} failed`, { error: rootCauseMessage(error) });
}

/** A stored private key that the current APP_SECRET cannot decrypt. */
class UndecryptableKeyError extends Error {
  constructor(kid: string, cause: unknown) {
    super(`the private key of ${kid} does not decrypt`, { cause });
  }
}
