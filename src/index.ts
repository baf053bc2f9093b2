import { app } from "./app";
import { type Bindings, readConfig } from "./env";
import { log } from "./lib/log";
import { createServices } from "./services";

export default {
  fetch: app.fetch,

  /** Cron (wrangler.toml `[triggers]`): delete expired sessions so the table stays small. */
  async scheduled(_controller, env, _ctx) {
    const removed = await createServices(env, readConfig(env)).auth.pruneExpiredSessions();
    log("info", "expired sessions pruned", { removed });
  },
} satisfies ExportedHandler<Bindings>;
