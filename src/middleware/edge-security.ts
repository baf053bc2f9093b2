import { cors } from "hono/cors";
import { createMiddleware } from "hono/factory";
import { secureHeaders } from "hono/secure-headers";
import { readConfig } from "../config";
import type { AppEnv } from "../http/router";

// Response headers for a JSON API: nothing on it may be framed, sniffed, scripted or leak a
// referrer. The docs page is the one HTML page: its scripts come from this origin only (the API
// reference is a static asset of this Worker), it calls only this origin, and Scalar's stylesheets
// need inline styles; nothing else is allowed.
const apiHeaders = secureHeaders({
  contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
  xFrameOptions: "DENY",
  strictTransportSecurity: "max-age=63072000; includeSubDomains",
  crossOriginResourcePolicy: "cross-origin",
  crossOriginEmbedderPolicy: false,
});

const docsHeaders = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'", "'unsafe-inline'"],
    imgSrc: ["'self'", "data:"],
    connectSrc: ["'self'"],
    baseUri: ["'none'"],
    formAction: ["'none'"],
    frameAncestors: ["'none'"],
  },
  xFrameOptions: "DENY",
  strictTransportSecurity: "max-age=63072000; includeSubDomains",
  crossOriginEmbedderPolicy: false,
});

export function securityHeaders() {
  return createMiddleware<AppEnv>(async function securityHeaders(c, next) {
    return c.req.path === "/docs" ? docsHeaders(c, next) : apiHeaders(c, next);
  });
}

const corsByOrigins = new Map<string, ReturnType<typeof cors>>();

/**
 * CORS, off unless CORS_ALLOWED_ORIGINS lists origins. Never `*`, never credentials: clients
 * authenticate with a bearer token they send themselves, so browsers need no cookies.
 */
export function corsFromConfig() {
  return createMiddleware<AppEnv>(async function corsFromConfig(c, next) {
    const origins = readConfig(c.env).corsAllowedOrigins;
    if (origins.length === 0) return next();
    const key = origins.join(",");
    let handler = corsByOrigins.get(key);
    if (!handler) {
      handler = cors({
        origin: origins,
        allowMethods: ["GET", "HEAD", "POST", "PATCH", "DELETE"],
        allowHeaders: ["Authorization", "Content-Type", "Idempotency-Key", "If-Match", "If-None-Match", "X-Request-Id"],
        exposeHeaders: [
          "ETag",
          "Location",
          "Retry-After",
          "RateLimit",
          "RateLimit-Policy",
          "Server-Timing",
          "X-Request-Id",
          "Idempotent-Replayed",
        ],
        credentials: false,
        maxAge: 600,
      });
      corsByOrigins.set(key, handler);
    }
    return handler(c, next);
  });
}
