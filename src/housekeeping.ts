import { createServices } from "./composition";
import { type Bindings, readConfig } from "./config";
import type { DatabaseBackend } from "./db/backend";
import { rootCauseMessage } from "./lib/errors";
import { log } from "./lib/log";
import { RequestMetrics } from "./lib/metrics";

/**
 * Every minute (the Worker's cron, or a timer on Node): purge cache keys still in the outbox,
 * delete expired sessions and email links, forget expired idempotency keys (so no table grows
 * without bound), prune security events past AUDIT_RETENTION_DAYS, hand webhook deliveries no
 * request handed over to their queue and prune old ones, and rotate the signing keys when due
 * (src/tokens/signing-keys.service.ts).
 */
export async function runHousekeeping(
  backend: DatabaseBackend,
  env: Bindings,
  defer: (task: Promise<unknown>) => void,
): Promise<void> {
  const services = createServices({ backend, env, config: readConfig(env), metrics: new RequestMetrics(), defer });
  // Each step on its own: one that fails (and logs) leaves the others to run.
  const purged = await step("cache purges", async () => (await services.purger?.drain(new Date())) ?? 0, 0);
  const removed = await step("expired sessions", () => services.auth.pruneExpiredSessions(), 0);
  const forgotten = await step("expired idempotency keys", () => services.idempotency.pruneExpired(), 0);
  const expiredLinks = await step("expired email links", () => services.accounts.pruneExpiredTokens(), 0);
  const handedOver = await step("webhook outbox", () => services.webhooks.dispatchStragglers(), 0);
  const deliveriesPruned = await step("old webhook deliveries", () => services.webhooks.pruneDeliveries(), 0);
  const auditEventsPruned = await step("old security events", () => services.audit.pruneExpired(), 0);
  const keys = await step("signing keys", () => services.signingKeys.maintain(), {
    scheduled: null,
    privateKeysDropped: 0,
    keysRemoved: 0,
    keysResealed: 0,
  });
  log("info", "housekeeping done", {
    stalePurged: purged,
    expiredSessionsRemoved: removed,
    expiredIdempotencyKeysRemoved: forgotten,
    expiredLinksRemoved: expiredLinks,
    webhookDeliveriesHandedOver: handedOver,
    webhookDeliveriesPruned: deliveriesPruned,
    auditEventsPruned,
    signingKeyScheduled: keys.scheduled ?? "",
    retiredPrivateKeysDropped: keys.privateKeysDropped,
    signingKeysRemoved: keys.keysRemoved,
    signingKeysResealed: keys.keysResealed,
  });
}

async function step<T>(name: string, work: () => Promise<T>, fallback: T): Promise<T> {
  try {
    return await work();
  } catch (error) {
    log("error", `housekeeping: ${name} failed`, { error: rootCauseMessage(error) });
    return fallback;
  }
}
