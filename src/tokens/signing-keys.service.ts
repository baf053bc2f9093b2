import type { AuditEvents } from "../audit/audit.events";
import type { SigningKeyRow } from "../db/schema";
import { rootCauseMessage } from "../lib/errors";
import { generateSigningKeyPair, importPrivateKey, importPublicKey, type PublicJwk } from "../lib/jws";
import { log } from "../lib/log";
import type { Sealer } from "../lib/sealing";
import type { KeyIds } from "./key-ids";
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
  /**
   * A genuine kid (key-ids.ts) this isolate has not loaded, minted before its copy was read (a key
   * since removed), makes it read the keys again at most this often. One newer than the copy is
   * looked up at once, and a made-up kid never is.
   */
  unknownKidReloadMs: 10_000,
  /** How long a new key may take from its kid being minted to its row being committed. */
  keyCommitSlackMs: 10_000,
} as const;

/**
 * Whether `key` signs at `now`: its `signsFrom` has come, or it was made to sign at once (the first
 * key, an emergency key: `signsFrom` no later than `createdAt`), which it does even for an isolate
 * whose clock is a little behind the one that made it.
 */
function signsAt(key: Pick<SigningKeyRow, "signsFrom" | "createdAt">, now: Date): boolean {
  return key.signsFrom <= now || key.signsFrom <= key.createdAt;
}

/** The key that signs at `now`: the newest whose `signsFrom` has come. */
function signingKeyAt<K extends Pick<SigningKeyRow, "signsFrom">>(keys: K[], now: Date): K | undefined {
  let current: K | undefined;
  for (const key of keys) if (key.signsFrom <= now && (!current || key.signsFrom >= current.signsFrom)) current = key;
  return current;
}

/**
 * What maintenance is due at `now`, from the keys alone (a pure function, tested with a moved clock).
 * `broken` names keys whose private half opens under neither APP_SECRET nor APP_SECRET_PREVIOUS:
 * they sign nothing, so a key they follow keeps signing (and published) until a key that does
 * sign takes over, and a broken current key makes the next one due at once.
 */
export function keyPlan(
  keys: SigningKeyRow[],
  now: Date,
  {
    rotationIntervalMs,
    rotationRequested,
    broken = new Set(),
  }: { rotationIntervalMs: number; rotationRequested: boolean; broken?: ReadonlySet<string> },
) {
  const sorted = [...keys].sort((a, b) => a.signsFrom.getTime() - b.signsFrom.getTime());
  const current = signingKeyAt(sorted, now);
  const waiting = sorted.some((key) => key.signsFrom > now && !broken.has(key.kid));
  const due =
    current &&
    (broken.has(current.kid) ||
      now.getTime() - current.signsFrom.getTime() >= rotationIntervalMs - KEY_TIMING.publishAheadMs);
  // A key stops signing when the next key that can sign starts to.
  const retiredAt = (index: number) =>
    sorted
      .slice(index + 1)
      .find((key) => !broken.has(key.kid))
      ?.signsFrom.getTime();
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
  /** The keys, and when the read that got them started. */
  loaded?: { keys: SigningKeyRow[]; at: number };
  loading?: { keys: Promise<SigningKeyRow[]>; since: number };
  verifiers: Map<string, Promise<CryptoKey>>;
  /** Opened private keys; a key that does not open is not kept (the row may be re-sealed). */
  signers: Map<string, Promise<CryptoKey | null>>;
  lastUnknownKidReload: number;
  /** Genuine kids newer than a loaded copy that a read was already made for (a handful: real keys only). */
  lookedUp: Set<string>;
  /** When this isolate last asked for maintenance because a key that should sign does not open. */
  lastRepairRequest: number;
};

export function createKeyCache(): KeyCache {
  return {
    verifiers: new Map(),
    signers: new Map(),
    lastUnknownKidReload: 0,
    lookedUp: new Set(),
    lastRepairRequest: 0,
  };
}

export type KeyMaintenance = {
  scheduled: string | null;
  privateKeysDropped: number;
  /** Keys removed: retired ones no token can still need, and waiting ones whose private half does not open. */
  keysRemoved: number;
  /** Private halves sealed under APP_SECRET_PREVIOUS, sealed again under APP_SECRET. */
  keysResealed: number;
};

export type SigningKeysService = {
  /** The key that signs now, made on first use when there is none (a fresh database). */
  signer(): Promise<{ kid: string; key: CryptoKey }>;
  /**
   * The public key `kid` names, if it is published. A kid this isolate has not loaded makes it read
   * the keys again only when the kid is one of ours (key-ids.ts): at once when it is newer than the
   * isolate's copy, otherwise at most every `unknownKidReloadMs`.
   */
  verifier(kid: string): Promise<CryptoKey | null>;
  /** Every published public key: the JWK Set. */
  publicKeys(): Promise<PublicJwk[]>;
  /**
   * The cron's work: re-seal private keys sealed under APP_SECRET_PREVIOUS, unpublish waiting keys
   * that do not open, schedule the next key when due or asked, drop retired private keys, remove old keys.
   */
  maintain(): Promise<KeyMaintenance>;
  /** Asks for a rotation at the next maintenance (the next key refresh of any isolate, or the cron). */
  requestRotation(): Promise<void>;
};

export type SigningKeysServiceDeps = {
  repository: SigningKeysRepository;
  cache: KeyCache;
  /** Seals private keys under APP_SECRET; what APP_SECRET_PREVIOUS sealed still opens (purpose `signing-keys`). */
  sealer: Sealer;
  keyIds: KeyIds;
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
  sealer,
  keyIds,
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

  async function newKey(signsFrom: Date | "at once"): Promise<SigningKeyRow> {
    const createdAt = now();
    const kid = await keyIds.make();
    const { publicJwk, privateJwk } = await generateSigningKeyPair(kid);
    return {
      kid,
      publicJwk: JSON.stringify(publicJwk),
      encryptedPrivateJwk: await sealer.seal(privateJwk, kid),
      createdAt,
      signsFrom: signsFrom === "at once" ? createdAt : signsFrom,
    };
  }

  /**
   * The keys from the database, joining a read in flight only if it started after `after` (one
   * that started earlier may have missed a key committed since).
   */
  async function reload(after = Number.NEGATIVE_INFINITY): Promise<SigningKeyRow[]> {
    while (cache.loading && cache.loading.since <= Math.min(after, Date.now())) {
      await cache.loading.keys.catch(() => undefined);
    }
    if (!cache.loading) {
      const started = Date.now();
      const keys = repository
        .load()
        .then(({ keys, rotationRequested }) => {
          cache.loaded = { keys, at: started };
          // A requested rotation is made by whoever sees it first, after its response.
          if (rotationRequested) defer(maintain().catch(logFailure("key rotation")));
          return keys;
        })
        .finally(() => {
          if (cache.loading?.keys === keys) cache.loading = undefined;
        });
      cache.loading = { keys, since: started };
    }
    return cache.loading.keys;
  }

  async function keys(): Promise<SigningKeyRow[]> {
    const loaded = cache.loaded;
    if (loaded && Date.now() - loaded.at < KEY_TIMING.refreshMs) return loaded.keys;
    return reload();
  }

  // The private key of `key`, or null when it has none or it opens under neither secret. One
  // sealed under APP_SECRET_PREVIOUS is sealed again under APP_SECRET after the response.
  function privateKeyOf(key: SigningKeyRow): Promise<CryptoKey | null> {
    const known = cache.signers.get(key.kid);
    if (known) return known;
    const sealed = key.encryptedPrivateJwk;
    if (!sealed) return Promise.resolve(null);
    const opening = sealer.open(sealed, key.kid).then((opened) => {
      if (!opened) return null;
      if (opened.stale) defer(reseal(key, sealed, opened.plaintext).catch(logFailure("re-sealing a signing key")));
      return importPrivateKey(opened.plaintext);
    });
    cache.signers.set(key.kid, opening);
    opening.then(
      (privateKey) => privateKey ?? cache.signers.delete(key.kid),
      () => cache.signers.delete(key.kid),
    );
    return opening;
  }

  async function reseal(key: SigningKeyRow, sealed: string, plaintext: string) {
    await repository.reseal(key.kid, sealed, await sealer.seal(plaintext, key.kid));
    log("info", "signing key re-sealed under APP_SECRET", { kid: key.kid });
  }

  /**
   * The key to sign with: the newest that signs now and opens; else an older one still signing
   * (published, so every verifier has it); else a published waiting key that opens, at once.
   * Skipping a key that should sign asks for maintenance (a replacement published ahead).
   */
  async function usableSigner(set: SigningKeyRow[], at: Date): Promise<{ kid: string; key: CryptoKey } | null> {
    const signing = set.filter((key) => signsAt(key, at)).sort((a, b) => b.signsFrom.getTime() - a.signsFrom.getTime());
    const waiting = set
      .filter((key) => !signsAt(key, at))
      .sort((a, b) => a.signsFrom.getTime() - b.signsFrom.getTime());
    let skipped: string | undefined;
    for (const candidate of [...signing, ...waiting]) {
      const key = await privateKeyOf(candidate);
      if (key) {
        if (skipped) requestRepair(skipped);
        return { kid: candidate.kid, key };
      }
      if (candidate.encryptedPrivateJwk) skipped ??= candidate.kid;
    }
    return null;
  }

  function requestRepair(kid: string) {
    if (Date.now() - cache.lastRepairRequest < KEY_TIMING.refreshMs) return;
    cache.lastRepairRequest = Date.now();
    log("error", "a signing key does not open under APP_SECRET or APP_SECRET_PREVIOUS; another key signs", { kid });
    defer(maintain().catch(logFailure("signing key maintenance")));
  }

  /**
   * No key opens (APP_SECRET lost, none published under the new one): waiting keys that do not
   * open are unpublished, and a new key signs at once (one, whichever isolate gets there first).
   * Tokens already issued still verify until they expire.
   */
  async function emergencySigner(set: SigningKeyRow[]): Promise<{ kid: string; key: CryptoKey }> {
    const at = now();
    const unopenable = set.filter((key) => key.encryptedPrivateJwk !== null).map((key) => key.kid);
    log("error", "no signing key opens under APP_SECRET or APP_SECRET_PREVIOUS; a new key signs at once", {
      kids: unopenable.join(","),
    });
    const waiting = set.filter((key) => !signsAt(key, at));
    await repository.removeWaiting(
      waiting.map((key) => key.kid),
      at,
    );
    const newest = signingKeyAt(set, at) ?? set.find((key) => signsAt(key, at));
    await insertNext(await newKey("at once"), newest?.signsFrom ?? new Date(0), "undecryptable");
    const replacement = await usableSigner(await loadNow(), at);
    if (!replacement) throw new Error("no signing key opens under APP_SECRET, and none could be made");
    return replacement;
  }

  // A read that starts now, for the moment after this isolate wrote a key.
  async function loadNow(): Promise<SigningKeyRow[]> {
    return reload(Date.now());
  }

  async function maintain(): Promise<KeyMaintenance> {
    const at = now();
    const { keys: stored, rotationRequested } = await repository.load();
    if (stored.length === 0) {
      await repository.insertFirst(await newKey("at once"));
      return { scheduled: null, privateKeysDropped: 0, keysRemoved: 0, keysResealed: 0 };
    }
    const broken = new Set<string>();
    let keysResealed = 0;
    for (const key of stored) {
      if (!key.encryptedPrivateJwk) continue;
      const opened = await sealer.open(key.encryptedPrivateJwk, key.kid);
      if (!opened) broken.add(key.kid);
      else if (opened.stale) {
        await reseal(key, key.encryptedPrivateJwk, opened.plaintext);
        keysResealed++;
      }
    }
    // A waiting key that does not open would never sign: it has signed nothing, so it goes.
    const unpublished = stored.filter((key) => broken.has(key.kid) && !signsAt(key, at)).map((key) => key.kid);
    await repository.removeWaiting(unpublished, at);
    if (unpublished.length > 0)
      log("error", "waiting signing keys that do not open under APP_SECRET were removed", {
        kids: unpublished.join(","),
      });
    const remaining = stored.filter((key) => !unpublished.includes(key.kid));
    // The rotation the unpublished key stood for is made again, under the current secret.
    const plan = keyPlan(remaining, at, {
      rotationIntervalMs,
      rotationRequested: rotationRequested || unpublished.length > 0,
      broken,
    });
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
    return {
      scheduled,
      privateKeysDropped: plan.dropPrivate.length,
      keysRemoved: plan.remove.length + unpublished.length,
      keysResealed,
    };
  }

  // The key `kid` names from the database, if it is worth a read: a kid that is not ours never is.
  async function lookUp(kid: string): Promise<SigningKeyRow | undefined> {
    const mintedAt = await keyIds.mintedAt(kid);
    if (mintedAt === null) return undefined;
    const newer = mintedAt > (cache.loaded?.at ?? 0) - KEY_TIMING.keyCommitSlackMs;
    const firstLook = newer && !cache.lookedUp.has(kid);
    // Joining a read in flight costs nothing; starting one is rationed unless the kid is new to us.
    if (!firstLook && !cache.loading) {
      if (Date.now() - cache.lastUnknownKidReload < KEY_TIMING.unknownKidReloadMs) return undefined;
      cache.lastUnknownKidReload = Date.now();
    }
    if (newer) cache.lookedUp.add(kid);
    return (await reload(newer ? mintedAt : undefined)).find((key) => key.kid === kid);
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
        // hold, so there is nothing to publish ahead of). Isolates racing store one key; every one
        // reads back the winner.
        await repository.insertFirst(await newKey("at once"));
        set = await loadNow();
      }
      const cached = await usableSigner(set, now());
      if (cached) return cached;
      // Another isolate may have replaced a key that does not open here already.
      set = await loadNow();
      return (await usableSigner(set, now())) ?? emergencySigner(set);
    },

    async verifier(kid) {
      const key = (await keys()).find((candidate) => candidate.kid === kid) ?? (await lookUp(kid));
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
