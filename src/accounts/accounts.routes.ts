import { createRoute } from "@hono/zod-openapi";
import { accepted, bearerSecurity, jsonBody, jsonResponse, problemResponses } from "../http/openapi";
import { createRouter } from "../http/router";
import { rateLimitPolicies } from "../limits/policies";
import { requireAuth } from "../middleware/authenticate";
import { clientAddress, rateLimit } from "../middleware/rate-limit";
import { toUserView, UserIdParamsSchema, UserSchema, userRepresentationHeaders } from "../users/users.schemas";
import {
  AcceptedSchema,
  PasswordResetConfirmBodySchema,
  PasswordResetRequestBodySchema,
  VerificationConfirmBodySchema,
} from "./accounts.schemas";
import type { AccountsService } from "./accounts.service";

const tags = ["Account"];
const mailLimit = rateLimit(rateLimitPolicies.mailPerClient, clientAddress);

const requestVerification = createRoute({
  operationId: "requestEmailVerification",
  method: "post",
  path: "/auth/email-verification",
  tags,
  summary: "Mail me a verification link",
  description:
    "Mails the caller a single-use link to `{APP_URL}/verify-email?token=…`, valid for EMAIL_VERIFICATION_TTL_SECONDS (24 h); it voids earlier links. An address already verified is sent nothing (still 202).",
  middleware: [requireAuth(), mailLimit] as const,
  security: bearerSecurity,
  responses: { 202: accepted(AcceptedSchema), ...problemResponses(401) },
});

const confirmVerification = createRoute({
  operationId: "confirmEmailVerification",
  method: "post",
  path: "/auth/email-verification/confirm",
  tags,
  summary: "Confirm an email address",
  description:
    "The token of a verification link. It works once, before it expires, and only while the account still has the address it was sent to.",
  security: [],
  request: { body: jsonBody(VerificationConfirmBodySchema, "The link's token") },
  responses: {
    200: jsonResponse(UserSchema, "The user, now `emailVerified: true`"),
    ...problemResponses(400, 413, 415),
  },
});

const requestReset = createRoute({
  operationId: "requestPasswordReset",
  method: "post",
  path: "/auth/password-reset",
  tags,
  summary: "Mail a password reset link",
  description:
    "If the email is an active account's, mails it a single-use link to `{APP_URL}/reset-password?token=…`, valid for PASSWORD_RESET_TTL_SECONDS (30 min); it voids earlier links. The answer is the same, with the same headers and after the same work, whether or not the account exists.",
  middleware: [mailLimit] as const,
  security: [],
  request: { body: jsonBody(PasswordResetRequestBodySchema, "The account's email") },
  responses: { 202: accepted(AcceptedSchema), ...problemResponses(400, 413, 415) },
});

const confirmReset = createRoute({
  operationId: "confirmPasswordReset",
  method: "post",
  path: "/auth/password-reset/confirm",
  tags,
  summary: "Set a new password with a reset link",
  description:
    "The token of a reset link and the new password. The old password stops working, every session of the user ends, and the address the link went to counts as verified. With `PASSWORD_BREACH_CHECK=refuse`, a password found in a known data breach is `422 /problems/breached-password`: nothing changes and the link still works.",
  security: [],
  request: { body: jsonBody(PasswordResetConfirmBodySchema, "The link's token and the new password") },
  responses: { 204: { description: "The password is changed" }, ...problemResponses(400, 413, 415, 422) },
});

const undoEmailChange = createRoute({
  operationId: "undoEmailChange",
  method: "post",
  path: "/auth/email-change/undo",
  tags,
  summary: "Undo an email change with the link mailed to the old address",
  description:
    "The token of the undo link that an owner's email change mails to the address it replaced (`{APP_URL}/undo-email-change?token=…`, valid 7 days). The account gets that address back, verified, and every session of the user ends (whoever moved the email is signed out); then the owner resets the password by mail. Works once; a disabled account, or a link already used, is `400 /problems/invalid-token`; an address now taken by another account is `409`.",
  security: [],
  request: { body: jsonBody(VerificationConfirmBodySchema, "The link's token") },
  responses: {
    200: jsonResponse(UserSchema, "The user, with the old address back and `emailVerified: true`"),
    ...problemResponses(400, 409, 413, 415),
  },
});

const adminReset = createRoute({
  operationId: "sendPasswordResetForUser",
  method: "post",
  path: "/users/{id}/password-reset",
  tags,
  summary: "Mail a user a password reset link (admins)",
  description:
    "Mails the user a single-use reset link that says an administrator asked for it. A disabled user is a 409: its link would not work.",
  middleware: [requireAuth(), mailLimit] as const,
  security: bearerSecurity,
  request: { params: UserIdParamsSchema },
  responses: { 202: accepted(AcceptedSchema), ...problemResponses(401, 403, 404, 409) },
});

const VERIFICATION_ACCEPTED = "If the address is not verified yet, a link is on its way to it.";
const RESET_ACCEPTED = "If the address belongs to an account, a link is on its way.";

export const accountsRouter = createRouter<{ accounts: AccountsService }>()
  .openapi(requestVerification, async (c) => {
    await c.get("services").accounts.requestVerification(c.get("actor"));
    c.set("securityEvent", "verification_requested");
    return c.json({ message: VERIFICATION_ACCEPTED }, 202);
  })
  .openapi(confirmVerification, async (c) => {
    const user = await c.get("services").accounts.confirmVerification(c.req.valid("json").token);
    c.set("securityEvent", "email_verified");
    return c.json(
      toUserView(user),
      200,
      userRepresentationHeaders(user, "full", c.get("config").publicCacheTtlSeconds),
    );
  })
  .openapi(requestReset, async (c) => {
    await c.get("services").accounts.requestPasswordReset(c.req.valid("json").email);
    c.set("securityEvent", "password_reset_requested");
    return c.json({ message: RESET_ACCEPTED }, 202);
  })
  .openapi(confirmReset, async (c) => {
    const { token, password } = c.req.valid("json");
    await c.get("services").accounts.confirmPasswordReset(token, password);
    c.set("securityEvent", "password_reset");
    return c.body(null, 204);
  })
  .openapi(undoEmailChange, async (c) => {
    const user = await c.get("services").accounts.undoEmailChange(c.req.valid("json").token);
    c.set("securityEvent", "email_change_undone");
    return c.json(
      toUserView(user),
      200,
      userRepresentationHeaders(user, "full", c.get("config").publicCacheTtlSeconds),
    );
  })
  .openapi(adminReset, async (c) => {
    await c.get("services").accounts.requestPasswordResetFor(c.get("actor"), c.req.valid("param").id);
    c.set("securityEvent", "password_reset_requested");
    return c.json({ message: RESET_ACCEPTED }, 202);
  });
