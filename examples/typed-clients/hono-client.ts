/**
 * A typed client from the app's own type: `hono/client` with `AppType` (src/app.ts). For code
 * that can import this repository's source (a monorepo, or a package of its types); types follow
 * the code directly, with no generation step. Every documented problem response is typed too
 * (narrow on `res.status`), and a route whose headers are all optional (`Idempotency-Key`,
 * `If-Match`) needs no `header: {}`.
 */
import type { Hono } from "hono";
import { hc } from "hono/client";
import type { ExtractSchema, Schema } from "hono/types";
import type { AppType } from "../../src/app";

/** `header` may be left out where every header the route declares is optional. */
type OptionalHeaders<I> = I extends { header: infer H }
  ? Partial<H> extends H
    ? Omit<I, "header"> & { header?: H }
    : I
  : I;

/** Each endpoint is a union, one member per status: mapped member by member, so status still narrows. */
type ClientEndpoint<E> = E extends { input: infer I } ? Omit<E, "input"> & { input: OptionalHeaders<I> } : E;

type ClientSchema<S extends Schema> = {
  [Path in keyof S]: { [Method in keyof S[Path]]: ClientEndpoint<S[Path][Method]> };
};

type AppSchema = ExtractSchema<AppType>;

/** AppType as the client sees it: the same routes, with optional headers optional. */
// biome-ignore lint/suspicious/noExplicitAny: the client reads only the schema, not the environment
export type ClientAppType = Hono<any, ClientSchema<AppSchema>>;

export function createHonoClient(
  baseUrl: string,
  fetch?: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>,
) {
  return hc<ClientAppType>(baseUrl, fetch ? { fetch } : {});
}
