import type { Bindings } from "../config";
import { readConfig } from "../config";
import type { DatabaseBackend } from "../db/backend";
import { RequestMetrics } from "../lib/metrics";
import { hashToken } from "../lib/tokens";
import { deliverMail } from "../mail/delivery";
import type { QueuedMail } from "../mail/mail";
import { createEmailTokensRepository } from "./email-tokens.repository";

/**
 * The mail queue's consumer as the entry points run it (the Worker's `queue` handler, the Node
 * host's in-memory queue): delivery, told whether each mailed link can still be used, from the
 * database the links are stored in.
 */
export async function consumeMail(batch: MessageBatch<QueuedMail>, env: Bindings, backend: DatabaseBackend) {
  let tokens: ReturnType<typeof createEmailTokensRepository> | undefined;
  await deliverMail(batch, env, {
    async linkIsLive(link) {
      const token = new URL(link).searchParams.get("token");
      if (!token) return false;
      tokens ??= createEmailTokensRepository(backend.open(env, readConfig(env), new RequestMetrics()));
      return tokens.isPending(await hashToken(token), new Date());
    },
  });
}
