import { app } from "./app";
import { type Bindings, readConfig } from "./env";
import { log } from "./lib/log";
import { RequestMetrics } from "./lib/metrics";
import { createServices } from "./services";

export default {
  fetch: app.fetch,

  /**
   * Cron, every minute (wrangler.toml `[triggers]`): purge cache entries whose purge did not
   * complete at write time, and delete expired sessions so the table stays small.
   */
  async scheduled(_controller, env, ctx) {
    const services = createServices({
      env,
      config: readConfig(env),
      metrics: new RequestMetrics(),
      defer: (task) => ctx.waitUntil(task),
    });
    const purged = (await services.purger?.drain(new Date())) ?? 0;
    const removed = await services.auth.pruneExpiredSessions();
    const forgotten = await services.idempotency.pruneExpired();
    log("info", "housekeeping done", {
      stalePurged: purged,
      expiredSessionsRemoved: removed,
      expiredIdempotencyKeysRemoved: forgotten,
    });
  },
} satisfies ExportedHandler<Bindings>;
