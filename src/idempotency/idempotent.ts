import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { JSONValue } from "hono/utils/types";
import type { AppEnv } from "../http/router";
import { clientAddress } from "../middleware/rate-limit";
import type { IdempotencyService } from "./idempotency.service";

/** A JSON response as a handler renders it for the write's result. */
type Rendered<Body extends JSONValue, Status extends ContentfulStatusCode> = {
  status: Status;
  headers: Record<string, string>;
  body: Body;
};

type IdempotentWrite<T, Body extends JSONValue, Status extends ContentfulStatusCode> = {
  /** The request's `Idempotency-Key` (validated by the route's header schema); none: no guarantee. */
  key: string | undefined;
  /** The validated body, which the key's fingerprint covers. */
  body: unknown;
  /** The write: a service call whose repository commits through runBatch. */
  write: () => Promise<T>;
  /** The response to the write's result, sent now and replayed to every retry. */
  render: (result: T) => Rendered<Body, Status>;
};

/**
 * Makes a creation safe to retry (IETF draft `Idempotency-Key`) in one call from its handler:
 * the key is reserved for the caller, the response is stored in the write's own batch, and a
 * retry gets that response back with `Idempotent-Replayed: true`. Without a key the write just runs.
 */
export async function idempotent<
  T,
  Body extends JSONValue,
  Status extends ContentfulStatusCode,
  E extends AppEnv<{ idempotency: IdempotencyService }>,
>(c: Context<E>, { key, body, write, render }: IdempotentWrite<T, Body, Status>) {
  if (key === undefined) {
    const response = render(await write());
    return c.json(response.body, response.status, response.headers);
  }
  const actor = c.get("actor");
  // Keys belong to the caller: its user id, or its address when anonymous.
  const scope = actor ? `user:${actor.user.id}` : `ip:${clientAddress(c)}`;
  const request = { scope, key, method: c.req.method, path: c.req.path, body };
  const { response, replayed } = await c.get("services").idempotency.run(request, write, (result: T) => {
    const { status, headers, body } = render(result);
    return { status, headers, body: JSON.stringify(body) };
  });
  // Sent through the context (not as a new Response), so headers middleware set are kept.
  return c.json(JSON.parse(response.body) as Body, response.status as Status, {
    ...response.headers,
    ...(replayed ? { "Idempotent-Replayed": "true" } : {}),
  });
}
