/**
 * The one error family of edge-users. Services and repositories throw these; `app.onError`
 * turns each into an RFC 9457 problem+json response. Anything else that escapes is a bug
 * (500) or a failing dependency (503), and its message never reaches the client.
 */
export type FieldError = { path: string; message: string };

export type ProblemKind = {
  /** Relative URI naming the kind of problem, documented at `GET /problems/{name}` and in /docs. */
  type: `/problems/${string}`;
  title: string;
  status: number;
  description: string;
};

function kind(name: string, status: number, title: string, description: string): ProblemKind {
  return { type: `/problems/${name}`, status, title, description };
}

/** Every problem type the API can answer with; the docs page and `/problems/{name}` list these. */
export const problemKinds = {
  validation: kind(
    "validation",
    400,
    "Validation failed",
    "The request did not match its schema; `errors` lists each failing path.",
  ),
  malformedJson: kind("malformed-json", 400, "Malformed JSON", "The request body is not valid JSON in UTF-8."),
  invalidToken: kind(
    "invalid-token",
    400,
    "Invalid or expired link",
    "The link's token is unknown, already used, expired, replaced by a newer link, or was sent to an address the account no longer has.",
  ),
  unauthorized: kind("unauthorized", 401, "Unauthorized", "Credentials are missing, invalid, expired or revoked."),
  forbidden: kind("forbidden", 403, "Forbidden", "The caller is authenticated but not allowed to do this."),
  emailNotVerified: kind(
    "email-not-verified",
    403,
    "Email not verified",
    "The credentials are right, but this service requires a verified email address first; a new verification link has been mailed.",
  ),
  notFound: kind("not-found", 404, "Not found", "There is no such resource, or the caller may not know it exists."),
  methodNotAllowed: kind(
    "method-not-allowed",
    405,
    "Method not allowed",
    "The resource exists but does not support this method; see `Allow`.",
  ),
  conflict: kind(
    "conflict",
    409,
    "Conflict",
    "The request conflicts with the current state, e.g. a duplicate email or username, or removing the last admin.",
  ),
  preconditionFailed: kind(
    "precondition-failed",
    412,
    "Precondition failed",
    "`If-Match` did not match the current version of the resource.",
  ),
  payloadTooLarge: kind("payload-too-large", 413, "Payload too large", "The request body is larger than 64 KiB."),
  unsupportedMediaType: kind(
    "unsupported-media-type",
    415,
    "Unsupported media type",
    "Request bodies must be sent as `Content-Type: application/json`.",
  ),
  unprocessable: kind(
    "unprocessable",
    422,
    "Unprocessable",
    "The request is well-formed but cannot be processed, e.g. a wrong current password.",
  ),
  breachedPassword: kind(
    "breached-password",
    422,
    "Breached password",
    "The new password appears in a known data breach (Have I Been Pwned's Pwned Passwords), so attackers try it first; choose another. Nothing was changed.",
  ),
  rateLimited: kind(
    "rate-limited",
    429,
    "Too many requests",
    "Slow down: retry after the number of seconds in `Retry-After`; `RateLimit-Policy` names the limit.",
  ),
  internal: kind(
    "internal",
    500,
    "Internal server error",
    "Something went wrong on our side; the request id identifies it in our logs.",
  ),
  unavailable: kind(
    "unavailable",
    503,
    "Service unavailable",
    "A dependency is unavailable; retry after the number of seconds in `Retry-After`.",
  ),
} as const satisfies Record<string, ProblemKind>;

export type AppErrorOptions = {
  errors?: FieldError[] | undefined;
  /** The security event this refusal is (Analytics Engine), e.g. a wrong password. */
  securityEvent?: string;
  headers?: Record<string, string>;
  extensions?: Record<string, unknown>;
  cause?: unknown;
};

export class AppError extends Error {
  readonly kind: ProblemKind;
  readonly detail: string | undefined;
  readonly errors: FieldError[] | undefined;
  /** Extra response headers that belong to this problem (Allow, Retry-After, WWW-Authenticate). */
  readonly headers: Record<string, string>;
  /** Extra members of the problem body (RFC 9457 §3.2), e.g. the failing checks of /ready. */
  readonly extensions: Record<string, unknown>;
  readonly securityEvent: string | undefined;

  constructor(problem: ProblemKind, detail?: string, options: AppErrorOptions = {}) {
    super(detail ?? problem.title, { cause: options.cause });
    // One name for the family; `kind` tells them apart. (Class names are not kept in the bundle:
    // keep_names is off in wrangler.toml, and a renamed class would report a wrong one.)
    this.name = "AppError";
    this.kind = problem;
    this.detail = detail;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
    this.extensions = options.extensions ?? {};
    this.securityEvent = options.securityEvent;
  }

  get status(): number {
    return this.kind.status;
  }
}

export class ValidationError extends AppError {
  constructor(errors: FieldError[], detail = "The request is invalid.") {
    super(problemKinds.validation, detail, { errors });
  }
}

export class MalformedJsonError extends AppError {
  constructor(detail = "The request body could not be parsed as JSON.") {
    super(problemKinds.malformedJson, detail);
  }
}

export class InvalidTokenError extends AppError {
  constructor() {
    super(problemKinds.invalidToken, "The link is invalid, already used or expired: ask for a new one.", {
      securityEvent: "invalid_link_token",
    });
  }
}

export class EmailNotVerifiedError extends AppError {
  constructor() {
    super(problemKinds.emailNotVerified, "Confirm your email address first: a new link is on its way to it.", {
      securityEvent: "email_not_verified",
    });
  }
}

export class UnauthorizedError extends AppError {
  constructor(detail = "Valid bearer credentials are required.", error: "invalid_token" | null = null) {
    const challenge = error ? `Bearer realm="edge-users", error="${error}"` : `Bearer realm="edge-users"`;
    super(problemKinds.unauthorized, detail, { headers: { "WWW-Authenticate": challenge } });
  }
}

export class ForbiddenError extends AppError {
  constructor(detail = "You are not allowed to do this.") {
    super(problemKinds.forbidden, detail);
  }
}

export class NotFoundError extends AppError {
  constructor(detail = "The requested resource does not exist.") {
    super(problemKinds.notFound, detail);
  }
}

export class MethodNotAllowedError extends AppError {
  constructor(allowed: readonly string[]) {
    super(problemKinds.methodNotAllowed, `Allowed methods: ${allowed.join(", ")}.`, {
      headers: { Allow: allowed.join(", ") },
    });
  }
}

export class ConflictError extends AppError {
  constructor(detail: string) {
    super(problemKinds.conflict, detail);
  }
}

export class PreconditionFailedError extends AppError {
  constructor(detail = "The resource has changed since you last read it.") {
    super(problemKinds.preconditionFailed, detail);
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(limitBytes: number) {
    super(problemKinds.payloadTooLarge, `Request bodies are limited to ${limitBytes} bytes.`);
  }
}

export class UnsupportedMediaTypeError extends AppError {
  constructor() {
    super(problemKinds.unsupportedMediaType, "Send the body as application/json.");
  }
}

export class UnprocessableError extends AppError {
  constructor(detail: string, options: Pick<AppErrorOptions, "securityEvent"> = {}) {
    super(problemKinds.unprocessable, detail, options);
  }
}

export class BreachedPasswordError extends AppError {
  constructor() {
    super(
      problemKinds.breachedPassword,
      "The new password (password) appears in a known data breach: choose another one.",
      { securityEvent: "breached_password" },
    );
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(
    detail = "A dependency is unavailable. Try again shortly.",
    retryAfterSeconds = 5,
    options: Pick<AppErrorOptions, "cause" | "extensions"> = {},
  ) {
    super(problemKinds.unavailable, detail, { ...options, headers: { "Retry-After": String(retryAfterSeconds) } });
  }
}

/** The innermost error of a cause chain: a driver's own error, without the wrappers around it. */
export function rootCause(error: unknown): unknown {
  let current = error;
  for (let depth = 0; current instanceof Error && current.cause !== undefined && depth < 5; depth++) {
    current = current.cause;
  }
  return current;
}

/** The innermost message of a cause chain, for logs: it names the failure without a wrapper's details. */
export function rootCauseMessage(error: unknown): string {
  let message = "unknown error";
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    message = current.message;
    current = current.cause;
  }
  return message;
}
