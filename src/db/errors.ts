/**
 * Storage errors arrive wrapped (DrizzleQueryError → D1 or libSQL error), and only their
 * messages say what happened. These helpers read the chain so callers can map them.
 */
function* messages(error: unknown): Generator<string> {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    yield current.message;
    current = current.cause;
  }
}

/** The column (e.g. `email`) a "UNIQUE constraint failed: users.email" message names, or null. */
export function uniqueViolationIn(message: string): string | null {
  return /UNIQUE constraint failed: \w+\.(\w+)/.exec(message)?.[1] ?? null;
}

/** The column whose unique index a write violated, or null for any other error. */
export function uniqueViolationColumn(error: unknown): string | null {
  for (const message of messages(error)) {
    const column = uniqueViolationIn(message);
    if (column) return column;
  }
  return null;
}

/** True when a write referenced a row that no longer exists (e.g. a session for a deleted user). */
export function isForeignKeyViolation(error: unknown): boolean {
  return [...messages(error)].some((message) => message.includes("FOREIGN KEY constraint failed"));
}

const OUR_BUG =
  /SQLITE_CONSTRAINT|SQLITE_ERROR|SQLITE_MISMATCH|SQLITE_RANGE|SQLITE_TOOBIG|no such (table|column)|syntax error|too big/;

/**
 * True when a database call failed for reasons outside our code (network, overload, timeout,
 * reset), so the client should retry (503). Schema and constraint errors are bugs (500).
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const chain = [...messages(error)];
  const fromDatabase =
    error instanceof Error &&
    (error.name === "DrizzleQueryError" ||
      chain.some((m) => m.includes("D1_") || m.includes("LIBSQL_")) ||
      isLibsqlError(error));
  return fromDatabase && !chain.some((m) => OUR_BUG.test(m));
}

function isLibsqlError(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    if (current.name === "LibsqlError") return true;
    current = current.cause;
  }
  return false;
}

/** The innermost error of a cause chain: the driver's own error, without Drizzle's wrapper. */
export function rootCause(error: unknown): unknown {
  let current = error;
  for (let depth = 0; current instanceof Error && current.cause !== undefined && depth < 5; depth++) {
    current = current.cause;
  }
  return current;
}

/** The innermost message, which names the failure without the query parameters Drizzle adds. */
export function rootCauseMessage(error: unknown): string {
  let last = "unknown error";
  for (const message of messages(error)) last = message;
  return last;
}
