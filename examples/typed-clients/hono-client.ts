/**
 * A typed client from the app's own type: `hono/client` with `AppType` (src/app.ts). For code
 * that can import this repository's source (a monorepo, or a package of its types); types follow
 * the code directly, with no generation step.
 */
import { hc } from "hono/client";
import type { AppType } from "../../src/app";

export function createHonoClient(
  baseUrl: string,
  fetch?: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>,
) {
  return hc<AppType>(baseUrl, fetch ? { fetch } : {});
}
