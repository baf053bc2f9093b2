import type { createApp } from "./app";
import type { Bindings } from "./config";
import type { DatabaseBackend } from "./db/backend";
import type { QueuedMail } from "./mail/mail";
import type { WebhookQueueMessage } from "./webhooks/webhooks.service";

type App = ReturnType<typeof createApp>;

/**
 * The Worker's handlers over one database backend: its entry points differ only in that choice.
 *
 * The app (its routes and their zod schemas) and the housekeeping are imported on first use, not
 * at start-up: bundled, a dynamic import is a module evaluated when it is first reached. Module
 * evaluation stays small (Cloudflare checks it against a start-up CPU limit at every upload), an
 * isolate that only runs the cron never builds the HTTP app, and the first request pays for the
 * app it uses (docs/performance.md#start-up).
 */
export function createWorker(backend: DatabaseBackend) {
  let app: App | undefined;
  let loading: Promise<App> | undefined;
  const loadApp = () =>
    (loading ??= import("./app").then(({ createApp }) => {
      app = createApp(backend);
      return app;
    }));

  return {
    // Any Request (tests and the Node host make plain ones), not only one with Cloudflare's `cf`.
    fetch(request: Request, env: Bindings, ctx: ExecutionContext) {
      // After the first request, no promise in the way.
      return app ? app.fetch(request, env, ctx) : loadApp().then((loaded) => loaded.fetch(request, env, ctx));
    },

    /** The mail and webhook queues and their dead-letter queues (wrangler.toml `[[queues.consumers]]`). */
    async queue(batch, env) {
      if (batch.queue.startsWith("edge-users-webhooks")) {
        const { consumeWebhookBatch } = await import("./webhooks/webhooks-consumer.entry");
        await consumeWebhookBatch(batch as MessageBatch<WebhookQueueMessage>, env, backend);
        return;
      }
      const { consumeMail } = await import("./accounts/mail-consumer");
      await consumeMail(batch as MessageBatch<QueuedMail>, env, backend);
    },

    /** Cron, every minute (wrangler.toml `[triggers]`). */
    async scheduled(_controller, env, ctx) {
      const { runHousekeeping } = await import("./housekeeping");
      await runHousekeeping(backend, env, (task) => ctx.waitUntil(task));
    },
  } satisfies ExportedHandler<Bindings>;
}
