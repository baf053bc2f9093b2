import { ForbiddenError, rootCauseMessage, UnauthorizedError } from "../lib/errors";

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

/** The answer a failed session guard (src/db/guards.ts) gives: a 401 or a 403. */
export function guardRefusal(reason: "session" | "role"): Error {
  return reason === "session"
    ? new UnauthorizedError("The session has ended: sign in again.", "invalid_token")
    : new ForbiddenError("Your role no longer allows this.");
}

/** The refusal a write guard's failed batch means; null for any other failure. */
export function guardRefusalIn(error: unknown): Error | null {
  for (const message of messages(error)) {
    const failed = /CHECK constraint failed: (session_live|role_current)/.exec(message)?.[1];
    if (failed) return guardRefusal(failed === "session_live" ? "session" : "role");
  }
  return null;
}

/**
 * Thrown by the database seams (the instrumented D1 binding and libSQL client, runBatch) around
 * whatever the driver threw, so a failure is known to come from the database even when the
 * driver's own error is a bare `TypeError: fetch failed`.
 */
export class DatabaseError extends Error {
  constructor(cause: unknown) {
    super(`database call failed: ${rootCauseMessage(cause)}`, { cause });
    this.name = "DatabaseError";
  }
}

/** A failure of a database call, marked as the database's (see DatabaseError). */
export async function asDatabaseError<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw error instanceof DatabaseError ? error : new DatabaseError(error);
  }
}

// Errors a retry cannot fix: schema or query bugs, refused constraints.
const OUR_BUG =
  /SQLITE_CONSTRAINT|SQLITE_ERROR|SQLITE_MISMATCH|SQLITE_RANGE|SQLITE_TOOBIG|no such (table|column)|syntax error|too big/;
// Errors of configuration: a wrong URL or token fails every request until someone fixes it.
const MISCONFIGURED = /URL_SCHEME_NOT_SUPPORTED|URL_INVALID|\b40[13]\b|unauthori[sz]ed|authentication/i;
const DRIVER_ERRORS = new Set(["DatabaseError", "DrizzleQueryError", "LibsqlError", "LibsqlBatchError"]);

/**
 * True when a database call failed for reasons outside our code and configuration (network,
 * overload, busy, timeout), so the client should retry (503). Bugs and bad settings are 500s.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const chain: Error[] = [];
  for (let current = error, depth = 0; current instanceof Error && depth < 6; depth++) {
    chain.push(current);
    current = current.cause;
  }
  const fromDatabase = chain.some(
    (link) => DRIVER_ERRORS.has(link.name) || link.message.startsWith("Failed query:") || link.message.includes("D1_"),
  );
  return fromDatabase && !chain.some((link) => OUR_BUG.test(link.message) || MISCONFIGURED.test(link.message));
}
