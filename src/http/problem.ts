import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ZodError } from "zod";
import { isDatabaseUnavailable } from "../db/errors";
import {
  AppError,
  type FieldError,
  MalformedJsonError,
  PayloadTooLargeError,
  problemKinds,
  ServiceUnavailableError,
  UnsupportedMediaTypeError,
  ValidationError,
} from "../lib/errors";

export const MAX_BODY_BYTES = 64 * 1024;

export type ProblemBody = {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  requestId: string;
  errors?: FieldError[] | undefined;
  [extension: string]: unknown;
};

/** Renders an AppError as RFC 9457 problem+json, with the request id and the error's own headers. */
export function problemResponse(c: Context, error: AppError): Response {
  const body: ProblemBody = {
    type: error.kind.type,
    title: error.kind.title,
    status: error.status,
    detail: error.detail ?? error.kind.description,
    instance: c.req.path,
    requestId: c.get("requestId") ?? "",
    ...(error.errors ? { errors: error.errors } : {}),
    ...error.extensions,
  };
  return c.body(JSON.stringify(body), error.status as ContentfulStatusCode, {
    ...error.headers,
    "Content-Type": "application/problem+json",
  });
}

/**
 * Maps anything thrown to the error family: our own errors pass through, Hono's HTTP exceptions
 * (malformed JSON, body limits, media types) and a failing database get their problem type, and
 * everything else is an internal error whose message stays out of the response.
 */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof HTTPException) {
    if (error.status === 400) return new MalformedJsonError();
    if (error.status === 413) return new PayloadTooLargeError(MAX_BODY_BYTES);
    if (error.status === 415) return new UnsupportedMediaTypeError();
  }
  if (isDatabaseUnavailable(error))
    return new ServiceUnavailableError("The database is unavailable. Try again shortly.", 5, { cause: error });
  return new AppError(problemKinds.internal, "An unexpected error occurred.", { cause: error });
}

export function validationErrorFrom(error: ZodError): ValidationError {
  const errors: FieldError[] = error.issues.flatMap((issue) => {
    const path = issue.path.map(String).join(".");
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({ path: path ? `${path}.${key}` : key, message: "Unknown field" }));
    }
    return [{ path, message: issue.message }];
  });
  return new ValidationError(errors);
}
