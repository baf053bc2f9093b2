import { createMiddleware } from "hono/factory";
import { UnsupportedMediaTypeError } from "../lib/errors";

/** Any request that carries a body must say it is JSON, even on routes that ignore the body (415). */
export function requireJsonBodies() {
  return createMiddleware(async function requireJsonBodies(c, next) {
    const length = c.req.header("Content-Length");
    const carriesBody = c.req.header("Transfer-Encoding") !== undefined || (length !== undefined && length !== "0");
    if (carriesBody && !isJson(c.req.header("Content-Type"))) throw new UnsupportedMediaTypeError();
    await next();
  });
}

function isJson(contentType: string | undefined): boolean {
  const mediaType = contentType?.split(";")[0]?.trim().toLowerCase() ?? "";
  return mediaType === "application/json" || /^application\/[\w.+-]+\+json$/.test(mediaType);
}
