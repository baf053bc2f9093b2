/**
 * A typed client from the OpenAPI document alone: `openapi-fetch` over the types `openapi-typescript`
 * generates from docs/openapi.json (`npm run client:types` writes ./openapi.d.ts). Paths, bodies,
 * parameters and answers, errors included, are typed from the document; nothing of our code needed.
 */
import createClient from "openapi-fetch";
import type { paths } from "./openapi";

export function createUsersClient(baseUrl: string, fetch?: (request: Request) => Promise<Response>) {
  return createClient<paths>({ baseUrl, ...(fetch ? { fetch } : {}) });
}
