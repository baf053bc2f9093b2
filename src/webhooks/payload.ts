import type { AuditEventRow } from "../audit/audit.schema";
import { toAuditEventView } from "../audit/audit.schemas";

/**
 * A delivery's `data`: the event as `GET /api/audit-events` shows it. For a `user.*` event the
 * outbox statement adds `user`, the full user as the write's batch left it (read in that batch:
 * webhooks.repository.ts, withUser). Made in the write's batch, so every attempt sends the same bytes.
 */
export function webhookPayload(row: AuditEventRow): { payload: string; withUserOf: string | undefined } {
  return {
    payload: JSON.stringify(toAuditEventView(row)),
    withUserOf: row.type.startsWith("user.") && row.targetType === "user" ? row.targetId : undefined,
  };
}
