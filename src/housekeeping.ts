import { createServices } from "./composition";
import { type Bindings, readConfig } from "./config";
import type { DatabaseBackend } from "./db/backend";
import { log } from "./lib/log";
import { RequestMetrics } from "./lib/metrics";

/**
 * Every minute (the Worker's cron, or a timer on Node): purge cache keys still in the outbox,
 * delete expired sessions and email links, forget expired idempotency keys (so no table grows
 * without bound), and rotate the signing keys when due (src/tokens/signing-keys.service.ts).
 */
export async function runHousekeeping(
  backend: DatabaseBackend,
  env: Bindings,
  defer: (task: Promise<unknown>) => void,
): Promise<void> {
  const services = createServices({ backend, env, config: readConfig(env), metrics: new RequestMetrics(), defer });
  const purged = (await services.purger?.drain(new Date())) ?? 0;
  const removed = await services.auth.pruneExpiredSessions();
  const forgotten = await services.idempotency.pruneExpired();
  const expiredLinks = await services.accounts.pruneExpiredTokens();
  const keys = await services.signingKeys.maintain();
  log("info", "housekeeping done", {
    stalePurged: purged,
    expiredSessionsRemoved: removed,
    expiredIdempotencyKeysRemoved: forgotten,
    expiredLinksRemoved: expiredLinks,
    signingKeyScheduled: keys.scheduled ?? "",
    retiredPrivateKeysDropped: keys.privateKeysDropped,
    signingKeysRemoved: keys.keysRemoved,
  });
}
