import { z } from "@hono/zod-openapi";
import type { WebhookDeliveryRow, WebhookEndpointRow } from "../db/schema";
import { NextCursorSchema, PageQuerySchema } from "../http/cursor";
import { ID_PATTERN } from "../lib/ids";
import { WEBHOOK_EVENT_TYPES } from "./event-types";

// Wire formats (STYLE.md, habit 2): what admins send and see; the secret only in the create answer.

const EventTypeSchema = z
  .string()
  .refine((type) => type === "*" || (WEBHOOK_EVENT_TYPES as readonly string[]).includes(type), {
    message: "An event type of the contract (e.g. user.created), or *",
  })
  .openapi({ example: "user.created" });

const EventsSchema = z
  .array(EventTypeSchema)
  .min(1)
  .max(WEBHOOK_EVENT_TYPES.length + 1)
  .transform((events) => (events.includes("*") ? ["*"] : [...new Set(events)].sort()))
  .openapi({ description: 'Event types to receive, or `["*"]` for all.', example: ["user.created", "user.deleted"] });

const UrlSchema = z.string().trim().min(1).max(2048).openapi({
  description:
    "https:// only, no credentials, never a private, loopback, link-local or metadata address (http://localhost:PORT only with WEBHOOKS_ALLOW_LOOPBACK=true).",
  example: "https://hooks.example.com/edge-users",
});

const DescriptionSchema = z.string().trim().max(200).openapi({ example: "Billing sync" });

export const CreateWebhookBodySchema = z
  .strictObject({ url: UrlSchema, events: EventsSchema, description: DescriptionSchema.optional() })
  .openapi("CreateWebhook");

export const UpdateWebhookBodySchema = z
  .strictObject({
    url: UrlSchema.optional(),
    events: EventsSchema.optional(),
    description: DescriptionSchema.optional(),
    enabled: z.boolean().optional(),
  })
  .refine((body) => Object.keys(body).length > 0, { message: "Send at least one field to change" })
  .openapi("UpdateWebhook");

export const WebhookIdParamsSchema = z.object({
  id: z
    .string()
    .max(100)
    .refine((id) => ID_PATTERN.test(id), { message: "Not a webhook id" })
    .openapi({ param: { name: "id", in: "path" }, example: "0197a8c4-0000-7000-8000-000000000001" }),
});

export const WebhookSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    description: z.string(),
    events: z.array(z.string()),
    enabled: z.boolean(),
    disabledReason: z
      .string()
      .nullable()
      .openapi({ description: "Why the service disabled it (a 410, a day of failures); null otherwise." }),
    createdAt: z.string().openapi({ format: "date-time" }),
    updatedAt: z.string().openapi({ format: "date-time" }),
  })
  .openapi("Webhook");

export const CreatedWebhookSchema = WebhookSchema.extend({
  secret: z.string().openapi({
    description: "`whsec_` + base64 of 32 random bytes: verify deliveries with it. Shown only in this answer.",
    example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  }),
}).openapi("CreatedWebhook");

export const WebhookListSchema = z
  .object({ data: z.array(WebhookSchema), nextCursor: NextCursorSchema })
  .openapi("WebhookList");

export const DeliverySchema = z
  .object({
    id: z.string(),
    eventId: z.string().openapi({ description: "The event's id: the `webhook-id` of every attempt." }),
    eventType: z.string(),
    attempt: z.number().int().openapi({ description: "Attempts made so far." }),
    status: z.enum(["pending", "succeeded", "failed"]),
    responseStatus: z.number().int().nullable(),
    durationMs: z.number().int().nullable(),
    error: z.string().nullable().openapi({ description: "Why the last attempt failed (never the response body)." }),
    createdAt: z.string().openapi({ format: "date-time" }),
  })
  .openapi("WebhookDelivery");

export const DeliveryListSchema = z
  .object({ data: z.array(DeliverySchema), nextCursor: NextCursorSchema })
  .openapi("WebhookDeliveryList");

export const ListQuerySchema = PageQuerySchema;

export function toWebhookView(row: WebhookEndpointRow): z.infer<typeof WebhookSchema> {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    events: row.events,
    enabled: row.enabled,
    disabledReason: row.disabledReason,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export function toDeliveryView(row: WebhookDeliveryRow): z.infer<typeof DeliverySchema> {
  return {
    id: row.id,
    eventId: row.eventId,
    eventType: row.eventType,
    attempt: row.attempt,
    status: row.status,
    responseStatus: row.responseStatus,
    durationMs: row.durationMs,
    error: row.error,
    createdAt: row.createdAt.toISOString(),
  };
}
