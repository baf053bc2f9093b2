import { createRoute, z } from "@hono/zod-openapi";
import { nextCursor } from "../http/cursor";
import { bearerSecurity, jsonBody, jsonResponse, problemResponses } from "../http/openapi";
import { createRouter } from "../http/router";
import { requireAuth } from "../middleware/authenticate";
import {
  CreatedWebhookSchema,
  CreateWebhookBodySchema,
  DeliveryListSchema,
  ListQuerySchema,
  toDeliveryView,
  toWebhookView,
  UpdateWebhookBodySchema,
  WebhookIdParamsSchema,
  WebhookListSchema,
  WebhookSchema,
} from "./webhooks.schemas";
import type { WebhooksService } from "./webhooks.service";

const tags = ["Webhooks"];
const security = bearerSecurity;

const createWebhook = createRoute({
  operationId: "createWebhook",
  method: "post",
  path: "/",
  tags,
  summary: "Create a webhook endpoint (admins)",
  description:
    "Its signing secret is in this answer only. Deliveries follow Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`). The URL is checked against the SSRF policy (400 naming `url`). At most 50 endpoints can be enabled (409).",
  middleware: [requireAuth()] as const,
  security,
  request: { body: jsonBody(CreateWebhookBodySchema, "The endpoint") },
  responses: {
    201: {
      ...jsonResponse(CreatedWebhookSchema, "Created; the secret is shown only here"),
      headers: z.object({
        Location: z.string().openapi({ example: "/api/webhooks/0197a8c4-0000-7000-8000-000000000001" }),
      }),
    },
    ...problemResponses(400, 401, 403, 409),
  },
});

const listWebhooks = createRoute({
  operationId: "listWebhooks",
  method: "get",
  path: "/",
  tags,
  summary: "List webhook endpoints (admins)",
  description: "Newest first, cursor-paginated.",
  middleware: [requireAuth()] as const,
  security,
  request: { query: ListQuerySchema },
  responses: { 200: jsonResponse(WebhookListSchema, "A page of endpoints"), ...problemResponses(400, 401, 403) },
});

const getWebhook = createRoute({
  operationId: "getWebhook",
  method: "get",
  path: "/{id}",
  tags,
  summary: "Get a webhook endpoint (admins)",
  description: "The endpoint as saved, with `disabledReason` when the service disabled it. Never its secret.",
  middleware: [requireAuth()] as const,
  security,
  request: { params: WebhookIdParamsSchema },
  responses: { 200: jsonResponse(WebhookSchema, "The endpoint"), ...problemResponses(400, 401, 403, 404) },
});

const updateWebhook = createRoute({
  operationId: "updateWebhook",
  method: "patch",
  path: "/{id}",
  tags,
  summary: "Change a webhook endpoint (admins)",
  description: "`url`, `events`, `description`, `enabled`. Enabling clears the reason the service disabled it.",
  middleware: [requireAuth()] as const,
  security,
  request: { params: WebhookIdParamsSchema, body: jsonBody(UpdateWebhookBodySchema, "The fields to change") },
  responses: { 200: jsonResponse(WebhookSchema, "The endpoint"), ...problemResponses(400, 401, 403, 404, 409) },
});

const deleteWebhook = createRoute({
  operationId: "deleteWebhook",
  method: "delete",
  path: "/{id}",
  tags,
  summary: "Delete a webhook endpoint (admins)",
  description: "Its pending deliveries are not sent.",
  middleware: [requireAuth()] as const,
  security,
  request: { params: WebhookIdParamsSchema },
  responses: { 204: { description: "Deleted" }, ...problemResponses(400, 401, 403, 404) },
});

const testWebhook = createRoute({
  operationId: "testWebhook",
  method: "post",
  path: "/{id}/test",
  tags,
  summary: "Send a test event to one endpoint (admins)",
  description: "Queues a `webhook.test` event to this endpoint only; see its deliveries for the outcome.",
  middleware: [requireAuth()] as const,
  security,
  request: { params: WebhookIdParamsSchema },
  responses: {
    202: jsonResponse(z.object({ message: z.string() }), "Queued"),
    ...problemResponses(400, 401, 403, 404),
  },
});

const listDeliveries = createRoute({
  operationId: "listWebhookDeliveries",
  method: "get",
  path: "/{id}/deliveries",
  tags,
  summary: "An endpoint's deliveries (admins)",
  description: "Newest first, cursor-paginated: each event sent to it, its attempts so far and the last answer.",
  middleware: [requireAuth()] as const,
  security,
  request: { params: WebhookIdParamsSchema, query: ListQuerySchema },
  responses: { 200: jsonResponse(DeliveryListSchema, "A page of deliveries"), ...problemResponses(400, 401, 403, 404) },
});

export const webhooksRouter = createRouter<{ webhooks: WebhooksService }>()
  .openapi(createWebhook, async (c) => {
    const { endpoint, secret } = await c.get("services").webhooks.create(c.get("actor"), c.req.valid("json"));
    c.set("securityEvent", "webhook_created");
    return c.json({ ...toWebhookView(endpoint), secret }, 201, { Location: `/api/webhooks/${endpoint.id}` });
  })
  .openapi(listWebhooks, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const page = await c.get("services").webhooks.list(c.get("actor"), { limit, after: cursor });
    return c.json(
      { data: page.endpoints.map(toWebhookView), nextCursor: nextCursor(page.endpoints, page.hasMore) },
      200,
    );
  })
  .openapi(getWebhook, async (c) => {
    const endpoint = await c.get("services").webhooks.get(c.get("actor"), c.req.valid("param").id);
    return c.json(toWebhookView(endpoint), 200);
  })
  .openapi(updateWebhook, async (c) => {
    const endpoint = await c
      .get("services")
      .webhooks.update(c.get("actor"), c.req.valid("param").id, c.req.valid("json"));
    return c.json(toWebhookView(endpoint), 200);
  })
  .openapi(deleteWebhook, async (c) => {
    await c.get("services").webhooks.delete(c.get("actor"), c.req.valid("param").id);
    c.set("securityEvent", "webhook_deleted");
    return c.body(null, 204);
  })
  .openapi(testWebhook, async (c) => {
    await c.get("services").webhooks.test(c.get("actor"), c.req.valid("param").id);
    return c.json({ message: "A webhook.test event is queued for this endpoint." }, 202);
  })
  .openapi(listDeliveries, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const page = await c
      .get("services")
      .webhooks.deliveries(c.get("actor"), c.req.valid("param").id, { limit, after: cursor });
    return c.json(
      { data: page.deliveries.map(toDeliveryView), nextCursor: nextCursor(page.deliveries, page.hasMore) },
      200,
    );
  });
