import { AUDIT_EVENT_TYPES } from "../audit/audit.events";

/**
 * What an endpoint may subscribe to: every security event the audit log records (each one fills
 * the outbox), and `webhook.test`, which only `POST /api/webhooks/{id}/test` sends.
 */
export const WEBHOOK_EVENT_TYPES = [...AUDIT_EVENT_TYPES, "webhook.test"] as const;
