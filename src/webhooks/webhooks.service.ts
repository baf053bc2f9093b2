import type { AuditEvents } from "../audit/audit.events";
import type { Actor } from "../authz/actor";
import { can, guardFor } from "../authz/policy";
import type { WebhookDeliveryRow, WebhookEndpointRow } from "../db/schema";
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from "../lib/errors";
import { newId } from "../lib/ids";
import type { Sealer } from "../lib/sealing";
import { newWebhookSecret } from "./signature";
import { checkWebhookUrl, type UrlPolicy } from "./url-policy";
import type { OutboxEvent, Page, WebhooksRepository } from "./webhooks.repository";

/** A queue message: which delivery to attempt (the row holds the rest). */
export type WebhookQueueMessage = { v: 1; deliveryId: string };

export type EndpointInput = { url: string; events: string[]; description?: string | undefined };
export type EndpointUpdate = Partial<EndpointInput> & { enabled?: boolean | undefined };

export type WebhooksService = {
  create(actor: Actor, input: EndpointInput): Promise<{ endpoint: WebhookEndpointRow; secret: string }>;
  list(actor: Actor, page: Page): Promise<{ endpoints: WebhookEndpointRow[]; hasMore: boolean }>;
  get(actor: Actor, id: string): Promise<WebhookEndpointRow>;
  update(actor: Actor, id: string, changes: EndpointUpdate): Promise<WebhookEndpointRow>;
  delete(actor: Actor, id: string): Promise<void>;
  /** Queues a `webhook.test` event to this endpoint only. */
  test(actor: Actor, id: string): Promise<void>;
  deliveries(actor: Actor, id: string, page: Page): Promise<{ deliveries: WebhookDeliveryRow[]; hasMore: boolean }>;
  /** After a write whose batch filled the outbox: hand its deliveries to the queue (after the response). */
  dispatchAfterWrite(eventIds: string[]): void;
  /** The cron: hands over outbox rows no request did (a crash, a failed enqueue). */
  dispatchStragglers(): Promise<number>;
  pruneDeliveries(): Promise<number>;
};

export type WebhooksServiceDeps = {
  repository: WebhooksRepository;
  /** Creating and deleting an endpoint are security events (webhook.created, webhook.deleted). */
  events?: AuditEvents;
  sealer: Sealer;
  policy: UrlPolicy;
  queue: Queue<WebhookQueueMessage>;
  defer: (task: Promise<unknown>) => void;
  now?: () => Date;
};

const NOT_FOUND = "No webhook endpoint with this id.";
const ADMINS_ONLY = "Only admins may manage webhooks.";
/** A request hands its own deliveries over; rows older than this that are still not handed over are the cron's. */
const STRAGGLER_AGE_MS = 60_000;
const SWEEP_LIMIT = 100;
/** Longer than the schedule's longest wait between attempts (12 h). */
const LOST_AFTER_MS = 13 * 3_600_000;
/** Every enabled endpoint takes a row in the batch of each write whose event it subscribes to. */
const MAX_ENABLED_ENDPOINTS = 50;
const DELIVERY_RETENTION_MS = 30 * 86_400_000;

export function createWebhooksService({
  repository,
  events,
  sealer,
  policy,
  queue,
  defer,
  now = () => new Date(),
}: WebhooksServiceDeps): WebhooksService {
  function authorize(actor: Actor) {
    if (!can(actor, "webhooks:manage")) throw new ForbiddenError(ADMINS_ONLY);
    return guardFor(actor, ["webhooks:manage"], undefined, now());
  }

  async function refuseOverCap() {
    if ((await repository.countEnabled()) >= MAX_ENABLED_ENDPOINTS) {
      throw new ConflictError(
        `At most ${MAX_ENABLED_ENDPOINTS} webhook endpoints can be enabled; disable or delete one first.`,
      );
    }
  }

  function checkedUrl(url: string): string {
    const verdict = checkWebhookUrl(url, policy);
    if (!verdict.ok) throw new ValidationError([{ path: "url", message: verdict.reason }], `url: ${verdict.reason}`);
    return verdict.url.toString();
  }

  async function enqueue(ids: string[]) {
    if (ids.length === 0) return;
    try {
      await queue.sendBatch(ids.map((deliveryId) => ({ body: { v: 1, deliveryId } })));
    } catch (error) {
      // The cron hands them over later: the outbox keeps them.
      await repository.releaseFromQueue(ids);
      throw error;
    }
  }

  return {
    async create(actor, input) {
      const guard = authorize(actor);
      await refuseOverCap();
      const id = newId();
      const secret = newWebhookSecret();
      const at = now();
      const url = checkedUrl(input.url);
      const sealedSecret = await sealer.seal(secret, id);
      const write = () =>
        repository.insertEndpoint(
          {
            id,
            url,
            description: input.description ?? "",
            events: input.events,
            sealedSecret,
            enabled: true,
            disabledReason: null,
            failingSince: null,
            createdAt: at,
            updatedAt: at,
          },
          guard,
        );
      const event = {
        type: "webhook.created" as const,
        actorId: actor.user.id,
        target: { type: "webhook" as const, id },
        data: { host: new URL(url).host, events: input.events },
      };
      const endpoint = events ? await events.recording(event, write) : await write();
      return { endpoint, secret };
    },

    async list(actor, page) {
      const rows = await repository.listEndpoints({ ...page, limit: page.limit + 1 }, authorize(actor));
      return { endpoints: rows.slice(0, page.limit), hasMore: rows.length > page.limit };
    },

    async get(actor, id) {
      const endpoint = await repository.findEndpoint(id, authorize(actor));
      if (!endpoint) throw new NotFoundError(NOT_FOUND);
      return endpoint;
    },

    async update(actor, id, changes) {
      const guard = authorize(actor);
      if (changes.enabled === true) await refuseOverCap();
      const url = changes.url !== undefined ? checkedUrl(changes.url) : undefined;
      const write = () =>
        repository.updateEndpoint(
          id,
          {
            ...(url !== undefined ? { url } : {}),
            ...(changes.events !== undefined ? { events: changes.events } : {}),
            ...(changes.description !== undefined ? { description: changes.description } : {}),
            ...(changes.enabled !== undefined ? { enabled: changes.enabled } : {}),
            updatedAt: now(),
          },
          guard,
        );
      const event = {
        type: "webhook.updated" as const,
        actorId: actor.user.id,
        target: { type: "webhook" as const, id },
        data: {
          fields: Object.keys(changes).sort(),
          ...(url !== undefined ? { host: new URL(url).host } : {}),
          ...(changes.enabled !== undefined ? { enabled: changes.enabled } : {}),
        },
      };
      const endpoint = events ? await events.recording(event, write) : await write();
      if (!endpoint) throw new NotFoundError(NOT_FOUND);
      // Enabled again: what waited while it was off is handed over again, after the response.
      if (changes.enabled === true) {
        await repository.requeueEndpoint(id);
        defer(
          (async () => {
            const ids = await repository.takeForQueue({ endpointId: id }, now(), SWEEP_LIMIT);
            await enqueue(ids);
          })(),
        );
      }
      return endpoint;
    },

    async delete(actor, id) {
      const guard = authorize(actor);
      const write = () => repository.deleteEndpoint(id, guard);
      const event = {
        type: "webhook.deleted" as const,
        actorId: actor.user.id,
        target: { type: "webhook" as const, id },
      };
      if (!(events ? await events.recording(event, write) : await write())) throw new NotFoundError(NOT_FOUND);
    },

    async test(actor, id) {
      const endpoint = await this.get(actor, id);
      const at = now();
      const eventId = newId();
      // Shaped like every other event's data, so a receiver parses a test as it parses the rest.
      const data = {
        id: eventId,
        type: "webhook.test",
        occurredAt: at.toISOString(),
        actor: { userId: actor.user.id, ip: null, userAgent: null },
        target: { type: "webhook", id: endpoint.id },
        data: { message: "A test event from edge-users." },
        requestId: null,
      };
      const event: OutboxEvent = { id: eventId, type: "webhook.test", occurredAt: at, payload: JSON.stringify(data) };
      await repository.insertDelivery(endpoint.id, event, at);
      this.dispatchAfterWrite([event.id]);
    },

    async deliveries(actor, id, page) {
      const guard = authorize(actor);
      const rows = await repository.listDeliveries(id, { ...page, limit: page.limit + 1 }, guard);
      if (rows.length === 0 && !(await repository.findEndpoint(id))) throw new NotFoundError(NOT_FOUND);
      return { deliveries: rows.slice(0, page.limit), hasMore: rows.length > page.limit };
    },

    dispatchAfterWrite(eventIds) {
      defer(
        (async () => {
          const ids = await repository.takeForQueue({ eventIds }, now(), SWEEP_LIMIT);
          await enqueue(ids);
        })(),
      );
    },

    async dispatchStragglers() {
      const at = now();
      const ids = await repository.takeForQueue(
        {
          createdBefore: new Date(at.getTime() - STRAGGLER_AGE_MS),
          // Handed over, then nothing for longer than the longest retry delay: the message was lost.
          staleBefore: new Date(at.getTime() - LOST_AFTER_MS),
        },
        at,
        SWEEP_LIMIT,
      );
      await enqueue(ids);
      return ids.length;
    },

    pruneDeliveries() {
      return repository.pruneDeliveries(new Date(now().getTime() - DELIVERY_RETENTION_MS), 500);
    },
  };
}
