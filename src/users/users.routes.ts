import { createRoute, z } from "@hono/zod-openapi";
import type { User } from "../db/schema";
import { MAX_IF_MATCH_TAGS, matchesIfNoneMatch, versionsFromIfMatch } from "../http/conditional";
import { nextCursor } from "../http/cursor";
import { bearerSecurity, jsonBody, problemResponses } from "../http/openapi";
import { createRouter } from "../http/router";
import type { IdempotencyService } from "../idempotency/idempotency.service";
import { idempotent } from "../idempotency/idempotent";
import { rateLimitPolicies } from "../limits/policies";
import { optionalAuth, requireAuth } from "../middleware/authenticate";
import { rateLimitUnlessAdmin } from "../middleware/rate-limit";
import {
  CreateUserBodySchema,
  ListUsersQuerySchema,
  toPublicProfileView,
  toUserView,
  UpdateUserBodySchema,
  UserIdParamsSchema,
  UserListSchema,
  UserSchema,
  UserViewSchema,
  userRepresentationHeaders,
} from "./users.schemas";
import type { UsersService } from "./users.service";

const tags = ["Users"];

const ETagHeader = z.string().openapi({
  description:
    'Strong entity tag: the user\'s version for the full view (`"v3"`), a hash of the shown fields for the public profile (`"p…"`), which changes only when they do.',
  example: '"v3"',
});
const representationHeadersSchema = z.object({
  ETag: ETagHeader,
  "Cache-Control": z.string().openapi({ example: "private, no-store" }),
  Vary: z.string().openapi({ example: "Authorization" }),
});

function userResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } }, headers: representationHeadersSchema };
}

// IETF draft `Idempotency-Key`: a structured-field string; the quotes are optional here.
const IdempotencyKeySchema = z
  .string()
  .regex(/^(?:"[\x21\x23-\x7e]{1,255}"|[\x21\x23-\x7e]{1,255})$/, "1 to 255 visible ASCII characters")
  .transform((value) => value.replace(/^"(.*)"$/, "$1"))
  .optional()
  .openapi({
    description:
      "Makes the creation safe to retry for 24 hours: a retry with the same key and body gets the first response (`Idempotent-Replayed: true`) and creates nothing; the same key with another body is 422; while the first is still running, 409. Keys are scoped to the caller.",
    example: '"8e03978e-40d5-43e8-bc93-6894a57f9324"',
  });

const IfMatchHeaders = z.object({
  "if-match": z
    .string()
    .max(1024)
    .refine((header) => header.split(",").length <= MAX_IF_MATCH_TAGS, {
      message: `At most ${MAX_IF_MATCH_TAGS} entity tags`,
    })
    .optional()
    .openapi({
      description: `Write only if the user is still at one of these ETags (full view); 412 otherwise. At most ${MAX_IF_MATCH_TAGS} tags.`,
      example: '"v3"',
    }),
});

const createUser = createRoute({
  operationId: "createUser",
  method: "post",
  path: "/",
  tags,
  summary: "Create a user",
  description:
    "Open to anyone while sign-up is open (`SIGNUP_OPEN`), else to admins. Only admins may send `role` or `status`. With `PASSWORD_BREACH_CHECK=refuse`, a password found in a known data breach is `422 /problems/breached-password` and nothing is created.",
  middleware: [optionalAuth(), rateLimitUnlessAdmin(rateLimitPolicies.signupPerClient)] as const,
  security: [{}, ...bearerSecurity],
  request: {
    headers: z.object({ "idempotency-key": IdempotencyKeySchema }),
    body: jsonBody(CreateUserBodySchema, "The new user"),
  },
  responses: {
    201: {
      ...userResponse(UserSchema, "Created"),
      headers: representationHeadersSchema.extend({
        Location: z.string().openapi({ example: "/api/users/01936b2e-7c4a-7d1e-9a3b-5f0c2d8e4a61" }),
      }),
    },
    ...problemResponses(400, 401, 403, 409, 413, 415, 422, 429),
  },
});

const listUsers = createRoute({
  operationId: "listUsers",
  method: "get",
  path: "/",
  tags,
  summary: "List users (admins)",
  description: "Newest first, cursor-paginated. `q` matches a prefix of email, username or name. Never cached.",
  middleware: [requireAuth()] as const,
  security: bearerSecurity,
  request: { query: ListUsersQuerySchema },
  responses: {
    200: { description: "A page of users", content: { "application/json": { schema: UserListSchema } } },
    ...problemResponses(400, 401, 403),
  },
});

const getUser = createRoute({
  operationId: "getUser",
  method: "get",
  path: "/{id}",
  tags,
  summary: "Get a user",
  description:
    "The full user to its owner and admins (`private, no-store`), the public profile to everyone else (`public, max-age=PUBLIC_CACHE_TTL_SECONDS`, served from the edge cache). Both carry an `ETag`; a matching `If-None-Match` gives 304.",
  middleware: [optionalAuth()] as const,
  security: [{}, ...bearerSecurity],
  request: { params: UserIdParamsSchema },
  // Documented, not validated: any string is a valid If-None-Match (one that matches nothing is a
  // 200), and a header validator copies every request header on the hottest route (9% of a cached
  // read's CPU in `npm run bench:profile`). The handler reads the one header.
  parameters: [
    {
      name: "If-None-Match",
      in: "header",
      required: false,
      description: "Entity tags from earlier responses; a current one gives 304",
      schema: { type: "string", example: '"p5f1d3a9c20e4b7e8"' },
    },
  ],
  responses: {
    200: userResponse(UserViewSchema, "The user (full) or its public profile"),
    304: { description: "Not modified: the `If-None-Match` tag is current", headers: representationHeadersSchema },
    ...problemResponses(401, 403, 404),
  },
});

const updateUser = createRoute({
  operationId: "updateUser",
  method: "patch",
  path: "/{id}",
  tags,
  summary: "Update a user (owner or admin)",
  description:
    "Partial update. Users changing their own password or email must send `currentPassword` (422 if wrong); an admin changing another user's needs none. An owner's email change mails the old address a one-time undo link. Only admins may change `role` and `status`. A new password or disabling the user ends the user's other sessions; with `PASSWORD_BREACH_CHECK=refuse`, one found in a known data breach is `422 /problems/breached-password` and nothing changes. Honours `If-Match` (412 when stale).",
  middleware: [requireAuth()] as const,
  security: bearerSecurity,
  request: {
    params: UserIdParamsSchema,
    headers: IfMatchHeaders,
    body: jsonBody(UpdateUserBodySchema, "The fields to change"),
  },
  responses: {
    200: userResponse(UserSchema, "The updated user"),
    ...problemResponses(400, 401, 403, 404, 409, 412, 413, 415, 422),
  },
});

const deleteUser = createRoute({
  operationId: "deleteUser",
  method: "delete",
  path: "/{id}",
  tags,
  summary: "Delete a user (owner or admin)",
  description:
    "Deletes the user and revokes all its sessions. The last active admin cannot be deleted (409). Honours `If-Match` (412 when stale).",
  middleware: [requireAuth()] as const,
  security: bearerSecurity,
  request: { params: UserIdParamsSchema, headers: IfMatchHeaders },
  responses: { 204: { description: "Deleted" }, ...problemResponses(400, 401, 403, 404, 409, 412) },
});

export const usersRouter = createRouter<{ users: UsersService; idempotency: IdempotencyService }>()
  .openapi(createUser, async (c) => {
    const { users } = c.get("services");
    const input = c.req.valid("json");
    const ttl = c.get("config").publicCacheTtlSeconds;
    return idempotent(c, {
      key: c.req.valid("header")["idempotency-key"],
      body: input,
      write: () => users.create(c.get("actor"), input),
      render: (user: User) => ({
        status: 201 as const,
        headers: { ...userRepresentationHeaders(user, "full", ttl), Location: `/api/users/${user.id}` },
        body: toUserView(user),
      }),
    });
  })
  .openapi(listUsers, async (c) => {
    const { limit, cursor, role, status, q } = c.req.valid("query");
    const page = await c.get("services").users.list(c.get("actor"), {
      limit,
      after: cursor && { createdAt: cursor.at, id: cursor.id },
      role,
      status,
      q,
    });
    return c.json({ data: page.users.map(toUserView), nextCursor: nextCursor(page.users, page.hasMore) }, 200);
  })
  .openapi(getUser, async (c) => {
    const { user, view } = await c.get("services").users.get(c.get("actor"), c.req.valid("param").id);
    const headers = userRepresentationHeaders(user, view, c.get("config").publicCacheTtlSeconds);
    if (matchesIfNoneMatch(c.req.header("if-none-match"), headers.ETag)) return c.body(null, 304, headers);
    return c.json(view === "full" ? toUserView(user) : toPublicProfileView(user), 200, headers);
  })
  .openapi(updateUser, async (c) => {
    const precondition = versionsFromIfMatch(c.req.valid("header")["if-match"]);
    const user = await c
      .get("services")
      .users.update(c.get("actor"), c.req.valid("param").id, c.req.valid("json"), precondition);
    return c.json(
      toUserView(user),
      200,
      userRepresentationHeaders(user, "full", c.get("config").publicCacheTtlSeconds),
    );
  })
  .openapi(deleteUser, async (c) => {
    const precondition = versionsFromIfMatch(c.req.valid("header")["if-match"]);
    await c.get("services").users.delete(c.get("actor"), c.req.valid("param").id, precondition);
    return c.body(null, 204);
  });
