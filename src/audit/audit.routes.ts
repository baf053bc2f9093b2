import { createRoute } from "@hono/zod-openapi";
import { bearerSecurity, jsonResponse, problemResponses } from "../http/openapi";
import { createRouter } from "../http/router";
import { requireAuth } from "../middleware/authenticate";
import { AuditEventListSchema, AuditEventsQuerySchema, OwnEventsQuerySchema, toAuditEventList } from "./audit.schemas";
import type { AuditLogService } from "./audit.service";

const tags = ["Audit"];

const listAuditEvents = createRoute({
  operationId: "listAuditEvents",
  method: "get",
  path: "/",
  tags,
  summary: "The audit log (admins)",
  description:
    "Every security event, newest first, cursor-paginated; each filter narrows the page (`since` inclusive, `until` exclusive, RFC 3339). Events are kept AUDIT_RETENTION_DAYS (90) days. Never cached.",
  middleware: [requireAuth()] as const,
  security: bearerSecurity,
  request: { query: AuditEventsQuerySchema },
  responses: {
    200: jsonResponse(AuditEventListSchema, "A page of events, newest first"),
    ...problemResponses(400, 401, 403),
  },
});

const listOwnEvents = createRoute({
  operationId: "listOwnEvents",
  method: "get",
  path: "/events",
  tags,
  summary: "The caller's recent activity",
  description:
    "The caller's own security events (as the one who acted or the one acted on: sign-ins, failed sign-ins, sessions ended, changes to the account), newest first, cursor-paginated.",
  middleware: [requireAuth()] as const,
  security: bearerSecurity,
  request: { query: OwnEventsQuerySchema },
  responses: {
    200: jsonResponse(AuditEventListSchema, "A page of events, newest first"),
    ...problemResponses(400, 401),
  },
});

/** GET /api/audit-events. */
export const auditEventsRouter = createRouter<{ audit: AuditLogService }>().openapi(listAuditEvents, async (c) => {
  const { cursor, ...filter } = c.req.valid("query");
  const page = await c.get("services").audit.list(c.get("actor"), { ...filter, after: cursor });
  return c.json(toAuditEventList(page), 200);
});

/** GET /api/auth/events. */
export const ownEventsRouter = createRouter<{ audit: AuditLogService }>().openapi(listOwnEvents, async (c) => {
  const { cursor, limit } = c.req.valid("query");
  const page = await c.get("services").audit.listOwn(c.get("actor"), { after: cursor, limit });
  return c.json(toAuditEventList(page), 200);
});
