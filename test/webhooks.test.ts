/**
 * Webhooks (API.md, "v1.2: … webhooks"): endpoints managed by admins, each with a secret shown
 * once and sealed at rest; deliveries through the real local queue, signed as Standard Webhooks
 * (verified with the `standardwebhooks` library), retried under the same webhook-id, dead-lettered
 * after the last attempt; a 410 disables the endpoint; the outbox is filled in a write's batch.
 */
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { runBatch } from "../src/db/client";
import { createD1Database } from "../src/db/d1";
import { createSealer } from "../src/lib/sealing";
import { consumeWebhooks } from "../src/webhooks/consumer";
import { createWebhooksRepository } from "../src/webhooks/webhooks.repository";
import { newUserBody, signedIn } from "./helpers/fixtures";
import { api, expectProblem } from "./helpers/http";
import { installReceiver, RECEIVER, receiver } from "./helpers/receiver";

type Created = { id: string; url: string; secret: string; events: string[]; enabled: boolean };
type Delivery = {
  id: string;
  eventId: string;
  eventType: string;
  attempt: number;
  status: string;
  responseStatus: number | null;
  error: string | null;
};

beforeAll(() => installReceiver());
afterEach(() => receiver.reset());

async function admin() {
  return (await signedIn("admin")).token;
}

async function createEndpoint(token: string, body: Record<string, unknown> = {}) {
  const res = await api("POST", "/api/webhooks", {
    token,
    body: { url: `${RECEIVER}/hook/${crypto.randomUUID()}`, events: ["*"], ...body },
  });
  expect(res.status).toBe(201);
  return { res, endpoint: (await res.json()) as Created };
}

async function deliveries(token: string, id: string): Promise<Delivery[]> {
  const res = await api("GET", `/api/webhooks/${id}/deliveries`, { token });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: Delivery[] }).data;
}

const endpointCount = async () =>
  Number((await env.DB.prepare("select count(*) as n from webhook_endpoints").first<{ n: number }>())?.n);

describe("managing endpoints", () => {
  it("an admin creates one: 201, Location, the secret once; never again, and not in the database", async () => {
    const token = await admin();
    const { res, endpoint } = await createEndpoint(token, {
      events: ["user.deleted", "user.created", "user.created"],
      description: "CRM",
    });
    expect(res.headers.get("Location")).toBe(`/api/webhooks/${endpoint.id}`);
    expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(endpoint).toMatchObject({ events: ["user.created", "user.deleted"], enabled: true, description: "CRM" });
    const read = (await (await api("GET", `/api/webhooks/${endpoint.id}`, { token })).json()) as Record<
      string,
      unknown
    >;
    expect(read).not.toHaveProperty("secret");
    const list = (await (await api("GET", "/api/webhooks?limit=100", { token })).json()) as { data: { id: string }[] };
    expect(list.data.map((item) => item.id)).toContain(endpoint.id);
    expect(JSON.stringify(list)).not.toContain(endpoint.secret);
    const row = await env.DB.prepare("select * from webhook_endpoints where id = ?").bind(endpoint.id).first();
    expect(JSON.stringify(row)).not.toContain(endpoint.secret.slice(6));
    // A security event, which names the host and the events, never the secret.
    const event = await env.DB.prepare("select * from audit_events where type = 'webhook.created' and target_id = ?")
      .bind(endpoint.id)
      .first<{ target_type: string; data: string }>();
    expect(event?.target_type).toBe("webhook");
    expect(JSON.parse(event?.data ?? "{}")).toEqual({
      host: "receiver.example.com",
      events: ["user.created", "user.deleted"],
    });
    expect(JSON.stringify(event)).not.toContain(endpoint.secret.slice(6));
  });

  it("members get 403, anonymous callers 401, and nothing is stored", async () => {
    const before = await endpointCount();
    const member = (await signedIn("member")).token;
    const body = { url: `${RECEIVER}/x`, events: ["*"] };
    await expectProblem(await api("POST", "/api/webhooks", { token: member, body }), 403, "/problems/forbidden");
    await expectProblem(await api("POST", "/api/webhooks", { body }), 401, "/problems/unauthorized");
    await expectProblem(await api("GET", "/api/webhooks", { token: member }), 403, "/problems/forbidden");
    expect(await endpointCount()).toBe(before);
  });

  it.each([
    ["http://receiver.example.com/x", "https:// only"],
    ["https://169.254.169.254/latest", "is not a public address"],
    ["https://[::ffff:10.0.0.1]/", "is not a public address"],
    ["https://user:pw@receiver.example.com/", "no credentials"],
    ["http://localhost:9999/", "https:// only"],
  ])("refuses the URL %s with a 400 naming url (%s), storing nothing", async (url, reason) => {
    const token = await admin();
    const before = await endpointCount();
    const res = await api("POST", "/api/webhooks", { token, body: { url, events: ["*"] } });
    const problem = (await expectProblem(res, 400, "/problems/validation")) as {
      errors: { path: string; message: string }[];
    };
    expect(problem.errors).toEqual([{ path: "url", message: expect.stringContaining(reason) }]);
    expect(await endpointCount()).toBe(before);
  });

  it("refuses unknown event types, empty lists and unknown fields", async () => {
    const token = await admin();
    for (const body of [
      { url: `${RECEIVER}/x`, events: ["user.exploded"] },
      { url: `${RECEIVER}/x`, events: [] },
      { url: `${RECEIVER}/x`, events: ["*"], secret: "mine" },
    ]) {
      await expectProblem(await api("POST", "/api/webhooks", { token, body }), 400, "/problems/validation");
    }
  });

  it("PATCH changes fields and re-checks the URL; DELETE removes it with its deliveries", async () => {
    const token = await admin();
    const { endpoint } = await createEndpoint(token);
    const patched = await api("PATCH", `/api/webhooks/${endpoint.id}`, {
      token,
      body: { enabled: false, events: ["user.created"] },
    });
    expect(await patched.json()).toMatchObject({ enabled: false, events: ["user.created"] });
    await expectProblem(
      await api("PATCH", `/api/webhooks/${endpoint.id}`, { token, body: { url: "https://10.1.2.3/" } }),
      400,
      "/problems/validation",
    );
    expect((await api("POST", `/api/webhooks/${endpoint.id}/test`, { token })).status).toBe(202);
    expect((await api("DELETE", `/api/webhooks/${endpoint.id}`, { token })).status).toBe(204);
    await expectProblem(await api("GET", `/api/webhooks/${endpoint.id}`, { token }), 404, "/problems/not-found");
    const deleted = await env.DB.prepare(
      "select count(*) as n from audit_events where type = 'webhook.deleted' and target_id = ?",
    )
      .bind(endpoint.id)
      .first<{ n: number }>();
    expect(deleted?.n).toBe(1);
    const left = await env.DB.prepare("select count(*) as n from webhook_deliveries where endpoint_id = ?")
      .bind(endpoint.id)
      .first<{ n: number }>();
    expect(left?.n).toBe(0);
    await expectProblem(await api("DELETE", `/api/webhooks/${endpoint.id}`, { token }), 404, "/problems/not-found");
  });
});

describe("what managing endpoints records", () => {
  it("a PATCH is webhook.updated (fields, the new host); a DELETE of an unknown id is a 404 and records nothing", async () => {
    const token = await admin();
    const { endpoint } = await createEndpoint(token);
    const moved = await api("PATCH", `/api/webhooks/${endpoint.id}`, {
      token,
      body: { url: "https://elsewhere.example.com/hook", enabled: false },
    });
    expect(moved.status).toBe(200);
    const updated = await env.DB.prepare(
      "select data from audit_events where type = 'webhook.updated' and target_id = ?",
    )
      .bind(endpoint.id)
      .first<{ data: string }>();
    expect(JSON.parse(updated?.data ?? "{}")).toEqual({
      fields: ["enabled", "url"],
      host: "elsewhere.example.com",
      enabled: false,
    });
    const unknown = "0197a8c4-0000-7000-8000-0000000000ff";
    const count = async () =>
      (
        await env.DB.prepare("select count(*) as n from audit_events where target_id = ?")
          .bind(unknown)
          .first<{ n: number }>()
      )?.n;
    await expectProblem(await api("DELETE", `/api/webhooks/${unknown}`, { token }), 404, "/problems/not-found");
    expect(await count()).toBe(0);
  });

  it("at most 50 enabled endpoints: the 51st is a 409 and stores nothing", async () => {
    const token = await admin();
    const enabled = Number(
      (await env.DB.prepare("select count(*) as n from webhook_endpoints where enabled = 1").first<{ n: number }>())?.n,
    );
    for (let i = enabled; i < 50; i++) await createEndpoint(token, { events: ["user.deleted"] });
    const before = await endpointCount();
    const res = await api("POST", "/api/webhooks", { token, body: { url: `${RECEIVER}/one-too-many`, events: ["*"] } });
    await expectProblem(res, 409, "/problems/conflict");
    expect(await endpointCount()).toBe(before);
    // Room is made by disabling one; the cap holds for enabling again too.
    await env.DB.prepare("update webhook_endpoints set enabled = 0").run();
  });
});

describe("delivering", () => {
  it("a test send arrives signed so that standardwebhooks verifies it, and the log says delivered", async () => {
    const token = await admin();
    const { endpoint } = await createEndpoint(token);
    expect((await api("POST", `/api/webhooks/${endpoint.id}/test`, { token })).status).toBe(202);
    // (It also gets its own webhook.created: it subscribes to everything.)
    const arrived = await vi.waitFor(() => {
      const found = receiver.received.find(
        (request) => request.url === endpoint.url && request.body.startsWith('{"type":"webhook.test"'),
      );
      if (!found) throw new Error("not yet");
      return found;
    });
    const payload = new Webhook(endpoint.secret).verify(arrived.body, arrived.headers) as {
      type: string;
      data: { target: { id: string } };
    };
    // Its data is shaped like any event's, so a receiver parses it as it parses the rest.
    expect(payload).toMatchObject({
      type: "webhook.test",
      data: {
        type: "webhook.test",
        target: { type: "webhook", id: endpoint.id },
        data: { message: expect.any(String) },
      },
    });
    expect(arrived.headers["webhook-id"]).toMatch(/^[0-9a-f-]{36}$/);
    const delivery = await vi.waitFor(async () => {
      const found = (await deliveries(token, endpoint.id)).find((item) => item.eventType === "webhook.test");
      if (found?.status !== "succeeded") throw new Error("not yet");
      return found;
    });
    expect(delivery).toMatchObject({
      eventType: "webhook.test",
      attempt: 1,
      status: "succeeded",
      responseStatus: 200,
      error: null,
      eventId: arrived.headers["webhook-id"],
    });
  });

  it("a failing receiver is retried under the same webhook-id, ten attempts, then the delivery is failed and dead-lettered", async () => {
    const token = await admin();
    const { endpoint } = await createEndpoint(token);
    receiver.answer(() => ({ status: 500 }));
    const errors = vi.spyOn(console, "error");
    expect((await api("POST", `/api/webhooks/${endpoint.id}/test`, { token })).status).toBe(202);
    const delivery = await vi.waitFor(
      async () => {
        const found = (await deliveries(token, endpoint.id)).find((item) => item.eventType === "webhook.test");
        if (found?.status !== "failed") throw new Error("not yet");
        return found;
      },
      { timeout: 10_000 },
    );
    expect(delivery).toMatchObject({ attempt: 10, status: "failed", responseStatus: 500, error: "HTTP 500" });
    const attempts = receiver.received.filter(
      (request) => request.url === endpoint.url && request.headers["webhook-id"] === delivery.eventId,
    );
    expect(attempts).toHaveLength(10);
    expect(new Set(attempts.map((request) => request.headers["webhook-id"])).size).toBe(1);
    await vi.waitFor(() => {
      expect(errors.mock.calls.some(([line]) => String(line).includes("webhook delivery dead-lettered"))).toBe(true);
    });
    errors.mockRestore();
  });

  it("a receiver that answers 410 Gone disables the endpoint, saying why; a disabled endpoint is sent nothing until enabled again", async () => {
    const token = await admin();
    const { endpoint } = await createEndpoint(token);
    receiver.answer(() => ({ status: 410 }));
    await api("POST", `/api/webhooks/${endpoint.id}/test`, { token });
    await vi.waitFor(async () => {
      const read = (await (await api("GET", `/api/webhooks/${endpoint.id}`, { token })).json()) as Record<
        string,
        unknown
      >;
      expect(read).toMatchObject({ enabled: false, disabledReason: "The receiver answered 410 Gone." });
    });
    receiver.answer(() => ({ status: 200 }));
    const before = receiver.received.length;
    await api("POST", `/api/webhooks/${endpoint.id}/test`, { token });
    const waiting = await vi.waitFor(async () => {
      const [newest] = await deliveries(token, endpoint.id);
      expect(newest).toMatchObject({ eventType: "webhook.test", status: "pending", error: "the endpoint is disabled" });
      return newest as Delivery;
    });
    expect(receiver.received.length).toBe(before);
    // Enabled again, the reason is gone, and what waited is delivered.
    const enabled = await api("PATCH", `/api/webhooks/${endpoint.id}`, { token, body: { enabled: true } });
    expect(await enabled.json()).toMatchObject({ enabled: true, disabledReason: null });
    await vi.waitFor(async () => {
      const found = (await deliveries(token, endpoint.id)).find((delivery) => delivery.id === waiting.id);
      expect(found).toMatchObject({ status: "succeeded", responseStatus: 200 });
    });
    expect(receiver.received.some((request) => request.headers["webhook-id"] === waiting.eventId)).toBe(true);
  });
});

describe("events from writes", () => {
  it("a sign-up is delivered as user.created with the user; a refused write delivers nothing", async () => {
    const token = await admin();
    const { endpoint } = await createEndpoint(token, { events: ["user.created", "user.updated"] });
    const body = newUserBody();
    const created = await api("POST", "/api/users", { body });
    expect(created.status).toBe(201);
    const user = (await created.json()) as { id: string; email: string };
    const arrived = await vi.waitFor(() => {
      const found = receiver.received.find((request) => request.url === endpoint.url);
      if (!found) throw new Error("not yet");
      return found;
    });
    const payload = new Webhook(endpoint.secret).verify(arrived.body, arrived.headers) as {
      type: string;
      data: { id: string; type: string; target: { id: string }; user: { id: string; email: string } };
    };
    expect(payload.type).toBe("user.created");
    expect(payload.data).toMatchObject({ type: "user.created", target: { id: user.id } });
    // `user` is the full view, exactly as the API shows it to its owner.
    const owner = await api("POST", "/api/auth/login", { body: { email: body.email, password: body.password } });
    const { token: ownerToken } = (await owner.json()) as { token: string };
    const fullView = await (await api("GET", `/api/users/${user.id}`, { token: ownerToken })).json();
    expect(payload.data.user).toEqual(fullView);
    // The webhook-id is the audit event's id.
    const event = await env.DB.prepare("select id from audit_events where type = 'user.created' and target_id = ?")
      .bind(user.id)
      .first<{ id: string }>();
    expect(arrived.headers["webhook-id"]).toBe(event?.id);
    expect(JSON.stringify(payload)).not.toContain(body.password);

    // A rename is delivered with the user as the write left it.
    expect((await api("PATCH", `/api/users/${user.id}`, { token: ownerToken, body: { name: "Renamed" } })).status).toBe(
      200,
    );
    const renamed = await vi.waitFor(() => {
      const found = receiver.received.find(
        (request) => request.url === endpoint.url && request.body.includes('"user.updated"'),
      );
      if (!found) throw new Error("not yet");
      return JSON.parse(found.body) as { data: { user: { name: string; updatedAt: string } } };
    });
    expect(renamed.data.user).toEqual(await (await api("GET", `/api/users/${user.id}`, { token: ownerToken })).json());
    expect(renamed.data.user.name).toBe("Renamed");

    // A PATCH refused by a stale If-Match records no event, and so fills no outbox row.
    const stale = await api("PATCH", `/api/users/${user.id}`, {
      token: ownerToken,
      headers: { "If-Match": '"v99"' },
      body: { name: "Nope" },
    });
    expect(stale.status).toBe(412);
    const rows = await env.DB.prepare(
      "select count(*) as n from webhook_deliveries where endpoint_id = ? and event_type = 'user.updated'",
    )
      .bind(endpoint.id)
      .first<{ n: number }>();
    expect(rows?.n).toBe(1);

    // A deleted endpoint gets nothing more.
    expect((await api("DELETE", `/api/webhooks/${endpoint.id}`, { token })).status).toBe(204);
    const before = receiver.received.filter((request) => request.url === endpoint.url).length;
    expect((await api("POST", "/api/users", { body: newUserBody() })).status).toBe(201);
    const other = (await createEndpoint(token, { events: ["user.created"] })).endpoint;
    expect((await api("POST", "/api/users", { body: newUserBody() })).status).toBe(201);
    await vi.waitFor(() => {
      if (!receiver.received.some((request) => request.url === other.url)) throw new Error("not yet");
    });
    expect(receiver.received.filter((request) => request.url === endpoint.url).length).toBe(before);
  });
});

describe("a receiver that fails for a day", () => {
  it("is disabled at its next failure, saying why; one success before that resets the clock", async () => {
    const token = await admin();
    const { endpoint } = await createEndpoint(token);
    const db = createD1Database(env.DB);
    const repository = createWebhooksRepository(db);
    const consume = async (deliveryId: string) => {
      const calls: string[] = [];
      const message = {
        body: { v: 1 as const, deliveryId },
        ack: () => calls.push("ack"),
        retry: () => calls.push("retry"),
      };
      await consumeWebhooks({ queue: "edge-users-webhooks", messages: [message] } as never, {
        repository,
        sealer: createSealer({ current: env.APP_SECRET }, "webhook-secrets"),
        policy: { allowLoopback: false },
        transport: async () => ({ status: 503, headers: new Headers() }),
      });
      return calls;
    };
    const event = () => ({ id: crypto.randomUUID(), type: "webhook.test", occurredAt: new Date(), payload: "{}" });
    await env.DB.prepare("update webhook_endpoints set failing_since = ? where id = ?")
      .bind(Date.now() - 23 * 3_600_000, endpoint.id)
      .run();
    expect(await consume(await repository.insertDelivery(endpoint.id, event(), new Date()))).toEqual(["retry"]);
    // Failing for more than a day, but a delivery's first attempts still go ahead…
    await env.DB.prepare("update webhook_endpoints set failing_since = ? where id = ?")
      .bind(Date.now() - 25 * 3_600_000, endpoint.id)
      .run();
    const late = await repository.insertDelivery(endpoint.id, event(), new Date());
    expect(await consume(late)).toEqual(["retry"]);
    // …and the fifth failed one disables the endpoint.
    await env.DB.prepare("update webhook_deliveries set attempt = 4 where id = ?").bind(late).run();
    expect(await consume(late)).toEqual(["ack"]);
    const read = (await (await api("GET", `/api/webhooks/${endpoint.id}`, { token })).json()) as Record<
      string,
      unknown
    >;
    expect(read).toMatchObject({ enabled: false, disabledReason: "Every delivery failed for a day." });
  });
});

describe("the outbox", () => {
  it("one pending delivery per enabled endpoint subscribed to the type, made in the write's batch", async () => {
    const token = await admin();
    const everything = (await createEndpoint(token, { events: ["*"] })).endpoint;
    const deletions = (await createEndpoint(token, { events: ["user.deleted"] })).endpoint;
    const off = (await createEndpoint(token, { events: ["user.created"] })).endpoint;
    await api("PATCH", `/api/webhooks/${off.id}`, { token, body: { enabled: false } });
    const db = createD1Database(env.DB);
    const repository = createWebhooksRepository(db);
    const event = { id: crypto.randomUUID(), type: "user.created", occurredAt: new Date(), payload: "{}" };
    await runBatch(db, [repository.outboxStatement(event, new Date())]);
    const rows = await env.DB.prepare("select endpoint_id, status from webhook_deliveries where event_id = ?")
      .bind(event.id)
      .all<{ endpoint_id: string; status: string }>();
    const endpoints = rows.results.map((row) => row.endpoint_id);
    // Other tests' enabled `*` endpoints get theirs too; the two that must not, do not.
    expect(endpoints).toContain(everything.id);
    expect(endpoints).not.toContain(deletions.id);
    expect(endpoints).not.toContain(off.id);
    expect(new Set(rows.results.map((row) => row.status))).toEqual(new Set(["pending"]));
  });

  it("a batch that fails leaves no delivery behind", async () => {
    const token = await admin();
    await createEndpoint(token, { events: ["*"] });
    const db = createD1Database(env.DB);
    const event = { id: crypto.randomUUID(), type: "user.created", occurredAt: new Date(), payload: "{}" };
    const failing = db.run("insert into write_guards (reason) values ('session')" as never);
    await expect(
      runBatch(db, [createWebhooksRepository(db).outboxStatement(event, new Date()), failing as never]),
    ).rejects.toThrow();
    const left = await env.DB.prepare("select count(*) as n from webhook_deliveries where event_id = ?")
      .bind(event.id)
      .first<{ n: number }>();
    expect(left?.n).toBe(0);
  });

  it("rows no request handed over are handed over by the cron, once", async () => {
    const token = await admin();
    const { endpoint } = await createEndpoint(token);
    const db = createD1Database(env.DB);
    const repository = createWebhooksRepository(db);
    const old = new Date(Date.now() - 120_000);
    const event = { id: crypto.randomUUID(), type: "user.created", occurredAt: old, payload: '{"n":1}' };
    await runBatch(db, [repository.outboxStatement(event, old)]);
    const first = await repository.takeForQueue({ createdBefore: new Date(Date.now() - 60_000) }, new Date(), 100);
    const second = await repository.takeForQueue({ createdBefore: new Date(Date.now() - 60_000) }, new Date(), 100);
    expect(first.length).toBeGreaterThanOrEqual(1);
    expect(second).toEqual([]);
    const row = await env.DB.prepare(
      "select enqueued_at from webhook_deliveries where event_id = ? and endpoint_id = ?",
    )
      .bind(event.id, endpoint.id)
      .first<{ enqueued_at: number | null }>();
    expect(row?.enqueued_at).not.toBeNull();
  });
});
