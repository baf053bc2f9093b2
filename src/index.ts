import { app } from "./app";
import type { Bindings } from "./config";
import { runHousekeeping } from "./housekeeping";

export default {
  fetch: app.fetch,

  /** Cron, every minute (wrangler.toml `[triggers]`). */
  async scheduled(_controller, env, ctx) {
    await runHousekeeping(env, (task) => ctx.waitUntil(task));
  },
} satisfies ExportedHandler<Bindings>;
