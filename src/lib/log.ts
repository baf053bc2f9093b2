/**
 * Structured logs: one JSON object per line, which Workers Logs indexes field by field, or (under
 * `wrangler dev`, LOG_FORMAT=pretty) one readable line. Levels below LOG_LEVEL are dropped; debug is
 * off unless asked for. Whatever a caller passes, secrets do not reach the log: fields named like
 * credentials are redacted and email addresses or bearer tokens inside strings are masked.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "json" | "pretty";

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

let settings: { level: LogLevel; format: LogFormat } = { level: "info", format: "json" };

/** Set from configuration at the start of each request (the values are per deployment). */
export function configureLogging(level: LogLevel, format: LogFormat): void {
  if (settings.level !== level || settings.format !== format) settings = { level, format };
}

export function isLogged(level: LogLevel): boolean {
  return rank[level] >= rank[settings.level];
}

export function log(level: LogLevel, message: string, fields: Record<string, unknown> = {}): void {
  if (!isLogged(level)) return;
  const entry = { time: new Date().toISOString(), level, message, ...sanitize(fields) };
  const line = settings.format === "pretty" ? pretty(entry) : JSON.stringify(entry);
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

const SECRET_FIELD = /pass(word)?|token|authorization|cookie|secret|pepper|hash|salt|email/i;
const EMAIL = /[^\s@"'<>]+@[^\s@"'<>]+\.[^\s@"'<>]+/g;
const BEARER = /bearer\s+[A-Za-z0-9._~+/=-]+/gi;

export function sanitize(fields: Record<string, unknown>): Record<string, unknown> {
  const clean: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    clean[key] = SECRET_FIELD.test(key) ? "[redacted]" : sanitizeValue(value, 0);
  }
  return clean;
}

// Nested objects and arrays get the same treatment, to a bounded depth.
function sanitizeValue(value: unknown, depth: number): unknown {
  if (typeof value === "string") return scrub(value);
  if (value === null || typeof value !== "object") return value;
  if (depth >= 4) return "[nested]";
  if (Array.isArray(value)) return value.map((item) => sanitizeValue(item, depth + 1));
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [
      key,
      SECRET_FIELD.test(key) ? "[redacted]" : sanitizeValue(item, depth + 1),
    ]),
  );
}

function scrub(text: string): string {
  return text.replace(EMAIL, "[email]").replace(BEARER, "Bearer [redacted]");
}

const colour: Record<LogLevel, string> = { debug: "\x1b[90m", info: "\x1b[36m", warn: "\x1b[33m", error: "\x1b[31m" };

// `12:00:01.234 INFO  GET /api/users/:id 200 3ms cache=hit-kv …` for a developer's terminal.
function pretty(entry: Record<string, unknown> & { time: string; level: LogLevel; message: string }): string {
  const { time, level, message, method, route, status, durationMs, stack, ...rest } = entry;
  const head = message === "request" ? `${method} ${route} ${status} ${durationMs}ms` : message;
  const details = Object.entries(rest)
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" ");
  const trace = typeof stack === "string" ? `\n${stack}` : "";
  return `${time.slice(11, 23)} ${colour[level]}${level.toUpperCase().padEnd(5)}\x1b[0m ${head} \x1b[90m${details}\x1b[0m${trace}`;
}
