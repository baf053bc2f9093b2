import { z } from "@hono/zod-openapi";
import { CursorQuerySchema, encodeCursor, LimitQuerySchema } from "../http/cursor";
import { ID_PATTERN } from "../lib/ids";
import { AUDIT_EVENT_TYPES } from "./audit.events";
import type { AuditEventRow } from "./audit.schema";

// Wire formats, written by hand and kept apart from the table (STYLE.md, habit 2).

const Rfc3339Schema = (description: string) =>
  z.iso
    .datetime({ offset: true, message: "An RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z" })
    .transform((value) => new Date(value))
    .optional()
    .openapi({ type: "string", format: "date-time", description, example: "2026-01-31T12:00:00Z" });

const IdQuerySchema = (description: string) =>
  z.string().regex(ID_PATTERN, "An id (UUIDv7)").optional().openapi({ description });

export const AuditEventsQuerySchema = z
  .strictObject({
    limit: LimitQuerySchema,
    cursor: CursorQuerySchema,
    type: z.enum(AUDIT_EVENT_TYPES).optional().openapi({ description: "Only events of this type." }),
    actorId: IdQuerySchema("Only events done by this user."),
    targetId: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,128}$/, "An id: a user's or a webhook's id, or a signing key's kid")
      .optional()
      .openapi({ description: "Only events done to this target (a user's or a webhook's id, a signing key's kid)." }),
    since: Rfc3339Schema("Events at or after this time."),
    until: Rfc3339Schema("Events before this time."),
  })
  .refine((query) => !query.since || !query.until || query.since < query.until, {
    message: "since must be before until",
    path: ["until"],
  });

export const OwnEventsQuerySchema = z.strictObject({ limit: LimitQuerySchema, cursor: CursorQuerySchema });

export const AuditEventSchema = z
  .object({
    id: z.string(),
    type: z.enum(AUDIT_EVENT_TYPES),
    occurredAt: z.string().openapi({ format: "date-time" }),
    actor: z.object({
      userId: z
        .string()
        .nullable()
        .openapi({ description: "Null: nobody signed in (sign-up, a mailed link, the service)." }),
      ip: z.string().nullable(),
      userAgent: z.string().nullable(),
    }),
    target: z.object({
      type: z.string().openapi({ example: "user", description: "`user` or `signing_key`." }),
      id: z.string(),
    }),
    data: z.record(z.string(), z.unknown()).openapi({
      description:
        "What happened, by type (docs/audit.md): e.g. `fields` (user.updated), `method` and `mfa` (auth.signed_in), `reason` (auth.sign_in_failed). Never a password, hash, token, TOTP secret, recovery code or private key.",
      example: { fields: ["name"] },
    }),
    requestId: z.string().nullable().openapi({ description: "The X-Request-Id of the request that made it." }),
  })
  .openapi("AuditEvent", { description: "A security event: who did what to which account." });

export const AuditEventListSchema = z
  .object({
    data: z.array(AuditEventSchema),
    nextCursor: z.string().nullable().openapi({ description: "Pass as `cursor` for the next page; null on the last." }),
  })
  .openapi("AuditEventList");

export type AuditEventView = z.infer<typeof AuditEventSchema>;

export function toAuditEventView(row: AuditEventRow): AuditEventView {
  return {
    id: row.id,
    type: row.type as AuditEventView["type"],
    occurredAt: row.occurredAt.toISOString(),
    actor: { userId: row.actorUserId, ip: row.actorIp, userAgent: row.actorUserAgent },
    target: { type: row.targetType, id: row.targetId },
    data: row.data,
    requestId: row.requestId,
  };
}

/** The page's body: its events and the cursor to the next page (null on the last). */
export function toAuditEventList(page: { events: AuditEventRow[]; hasMore: boolean }) {
  const last = page.events.at(-1);
  return {
    data: page.events.map(toAuditEventView),
    nextCursor: page.hasMore && last ? encodeCursor(last.occurredAt, last.id) : null,
  };
}
