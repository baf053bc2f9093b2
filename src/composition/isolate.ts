import { createMemoryCache, type MemoryCache } from "../cache/memory-cache";
import type { AppConfig, Bindings } from "../config";
import type { User } from "../db/schema";
import { deriveHmacKey } from "../lib/keys";
import { createPasswordHasher, type PasswordHasher, SCRYPT_BY_COST } from "../lib/password";
import { createSealer, type Sealer } from "../lib/sealing";
import type { VerifiedTokens } from "../tokens/access-tokens";
import { createKeyIds, type KeyIds } from "../tokens/key-ids";
import { createKeyCache, type KeyCache } from "../tokens/signing-keys.service";

/**
 * The part of the composition root that lives as long as the isolate (src/composition.ts builds
 * the per-request graph over it).
 */
// What lives as long as the isolate: the memory tier, the hasher (its imported pepper key) and
// derived keys. Everything else is per request.
export type IsolateState = {
  memory: MemoryCache<User>;
  hasher: PasswordHasher;
  fingerprintKey: () => Promise<CryptoKey>;
  /** The signing keys this isolate has read, and the MAC keys their kids are checked with. */
  keys: KeyCache;
  keyIds: KeyIds;
  /** Access tokens whose signature this isolate has checked. */
  verifiedTokens: VerifiedTokens;
  /** One sealer per purpose (signing keys, mail…), under APP_SECRET with APP_SECRET_PREVIOUS opening too. */
  sealer: (purpose: SealingPurpose) => Sealer;
};

/** What the service seals under APP_SECRET; each purpose has its own derived key. */
type SealingPurpose = "signing-keys" | "mail-queue" | "webhook-secrets";

const MEMORY_CACHE_MAX_ENTRIES = 1000;
// A few hundred bytes each; an entry is dropped after a minute however long its token lives.
const VERIFIED_TOKENS_MAX_ENTRIES = 1000;
const VERIFIED_TOKENS_TTL_MS = 60_000;

// Keyed by the bindings object, which workerd hands unchanged to every request of an isolate
// (a test pins this: the second read through the Worker's entry point is a memory hit). Tests
// that swap bindings get fresh state, as a new isolate would.
const isolates = new WeakMap<object, IsolateState>();

export function isolateState(env: Bindings, config: AppConfig): IsolateState {
  let state = isolates.get(env);
  if (!state) {
    state = {
      memory: createMemoryCache<User>({
        maxEntries: MEMORY_CACHE_MAX_ENTRIES,
        ttlMs: config.memoryCacheTtlSeconds * 1000,
      }),
      hasher: createPasswordHasher({ pepper: config.passwordPepper, scrypt: SCRYPT_BY_COST[config.passwordHashCost] }),
      fingerprintKey: once(() => deriveHmacKey(config.appSecret, "idempotency-fingerprint")),
      keys: createKeyCache(),
      keyIds: createKeyIds({ current: config.appSecret, previous: config.appSecretPrevious }),
      verifiedTokens: createMemoryCache({ maxEntries: VERIFIED_TOKENS_MAX_ENTRIES, ttlMs: VERIFIED_TOKENS_TTL_MS }),
      sealer: memoized((purpose: SealingPurpose) =>
        createSealer({ current: config.appSecret, previous: config.appSecretPrevious }, purpose),
      ),
    };
    isolates.set(env, state);
  }
  return state;
}

// One value per key, made on its first use and kept.
function memoized<K, V>(make: (key: K) => V): (key: K) => V {
  const made = new Map<K, V>();
  return (key) => {
    let value = made.get(key);
    if (value === undefined) {
      value = make(key);
      made.set(key, value);
    }
    return value;
  };
}

// A value made on its first use and kept.
function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => {
    made ??= { value: make() };
    return made.value;
  };
}
