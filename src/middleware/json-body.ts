import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { MalformedJsonError, UnsupportedMediaTypeError } from "../lib/errors";

/** Any request that carries a body must say it is JSON, even on routes that ignore the body (415). */
export function requireJsonBodies() {
  return createMiddleware(async function requireJsonBodies(c, next) {
    if (carriesBody(c) && !isJson(c.req.header("Content-Type"))) throw new UnsupportedMediaTypeError();
    await next();
  });
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * JSON text is UTF-8 (RFC 8259 §8.1). A body with bytes that are not is refused (400), never
 * decoded with replacement characters into something the client did not send. Runs after the body
 * limit; Hono keeps the bytes it reads here for the route's own JSON parsing.
 */
export function requireUtf8Bodies() {
  return createMiddleware(async function requireUtf8Bodies(c, next) {
    if (carriesBody(c)) {
      try {
        strictUtf8.decode(await c.req.arrayBuffer());
      } catch (error) {
        if (error instanceof TypeError) throw new MalformedJsonError("The request body is not valid UTF-8.");
        throw error;
      }
    }
    await next();
  });
}

function carriesBody(c: Context): boolean {
  const length = c.req.header("Content-Length");
  return c.req.header("Transfer-Encoding") !== undefined || (length !== undefined && length !== "0");
}

function isJson(contentType: string | undefined): boolean {
  const mediaType = contentType?.split(";")[0]?.trim().toLowerCase() ?? "";
  return mediaType === "application/json" || /^application\/[\w.+-]+\+json$/.test(mediaType);
}
