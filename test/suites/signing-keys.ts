/**
 * The signing keys service as an isolate builds it (src/composition.ts), over any backend's
 * database: its own key cache, the sealer and key ids of the secrets given.
 */
import type { Db } from "../../src/db/client";
import { createSealer } from "../../src/lib/sealing";
import { createKeyIds } from "../../src/tokens/key-ids";
import { createSigningKeysRepository } from "../../src/tokens/signing-keys.repository";
import { createKeyCache, createSigningKeysService, type KeyCache } from "../../src/tokens/signing-keys.service";
import { TEST_APP_SECRET } from "./constants";

export type SigningKeysOptions = {
  secret?: string;
  previous?: string;
  cache?: KeyCache;
  defer?: (task: Promise<unknown>) => void;
  now?: () => Date;
  rotationIntervalMs?: number;
};

export function signingKeysOver(
  db: Db,
  {
    secret = TEST_APP_SECRET,
    previous,
    cache = createKeyCache(),
    defer = () => {},
    now,
    rotationIntervalMs,
  }: SigningKeysOptions = {},
) {
  const secrets = { current: secret, previous };
  return createSigningKeysService({
    repository: createSigningKeysRepository(db),
    cache,
    sealer: createSealer(secrets, "signing-keys"),
    keyIds: createKeyIds(secrets),
    rotationIntervalMs: rotationIntervalMs ?? 30 * 86_400_000,
    defer,
    ...(now ? { now } : {}),
  });
}
