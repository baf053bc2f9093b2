import type { AuditEventRow } from "../audit/audit.schema";
import { toAuditEventView } from "../audit/audit.schemas";
import type { User } from "../db/schema";
import { toUserView } from "../users/users.schemas";

/**
 * A delivery's `data`: the event as `GET /api/audit-events` shows it, and for a `user.*` event the
 * full user as that write left it (`user`), when the write returned it. Made in the write's batch,
 * so every attempt sends the same bytes.
 */
export function webhookPayload(row: AuditEventRow, result: unknown): string {
  const event = toAuditEventView(row);
  const user = row.type.startsWith("user.") && isUser(result, row.targetId) ? toUserView(result) : undefined;
  return JSON.stringify(user ? { ...event, user } : event);
}

function isUser(value: unknown, id: string): value is User {
  const candidate = value as Partial<User> | null;
  return typeof candidate === "object" && candidate?.id === id && typeof candidate.email === "string";
}
