import { createRoute, z } from "@hono/zod-openapi";
import { bearerSecurity, jsonBody, jsonResponse, problemResponses } from "../lib/openapi";
import { createRouter } from "../lib/router";
import { optionalAuth, requireAuth } from "../middleware/authenticate";
import {
  CreateUserBodySchema,
  encodeCursor,
  ListUsersQuerySchema,
  toPublicProfileView,
  toUserView,
  UpdateUserBodySchema,
  UserIdParamsSchema,
  UserListSchema,
  UserSchema,
  UserViewSchema,
} from "./users.schemas";

const tags = ["Users"];

const createUser = createRoute({
  method: "post",
  path: "/",
  tags,
  summary: "Create a user",
  description:
    "Open to anyone while sign-up is open (`SIGNUP_OPEN`), else to admins. Only admins may send `role` or `status`.",
  middleware: [optionalAuth()] as const,
  security: [{}, ...bearerSecurity],
  request: { body: jsonBody(CreateUserBodySchema, "The new user") },
  responses: {
    201: {
      ...jsonResponse(UserSchema, "Created"),
      headers: z.object({
        Location: z.string().openapi({ example: "/api/users/01936b2e-7c4a-7d1e-9a3b-5f0c2d8e4a61" }),
      }),
    },
    ...problemResponses(400, 401, 403, 409, 413, 415),
  },
});

const listUsers = createRoute({
  method: "get",
  path: "/",
  tags,
  summary: "List users (admins)",
  description: "Newest first, cursor-paginated. `q` matches a prefix of email, username or name.",
  middleware: [requireAuth()] as const,
  security: bearerSecurity,
  request: { query: ListUsersQuerySchema },
  responses: { 200: jsonResponse(UserListSchema, "A page of users"), ...problemResponses(400, 401, 403) },
});

const getUser = createRoute({
  method: "get",
  path: "/{id}",
  tags,
  summary: "Get a user",
  description: "The full user to its owner and admins, the public profile to everyone else.",
  middleware: [optionalAuth()] as const,
  security: [{}, ...bearerSecurity],
  request: { params: UserIdParamsSchema },
  responses: {
    200: {
      description: "The user (full) or its public profile",
      content: { "application/json": { schema: UserViewSchema } },
    },
    ...problemResponses(401, 404),
  },
});

const updateUser = createRoute({
  method: "patch",
  path: "/{id}",
  tags,
  summary: "Update a user (owner or admin)",
  description:
    "Partial update. Users changing their own password must send `currentPassword` (422 if wrong). Only admins may change `role` and `status`. A new password or disabling the user ends the user's other sessions.",
  middleware: [requireAuth()] as const,
  security: bearerSecurity,
  request: { params: UserIdParamsSchema, body: jsonBody(UpdateUserBodySchema, "The fields to change") },
  responses: {
    200: jsonResponse(UserSchema, "The updated user"),
    ...problemResponses(400, 401, 403, 404, 409, 413, 415, 422),
  },
});

const deleteUser = createRoute({
  method: "delete",
  path: "/{id}",
  tags,
  summary: "Delete a user (owner or admin)",
  description: "Deletes the user and revokes all its sessions. The last active admin cannot be deleted (409).",
  middleware: [requireAuth()] as const,
  security: bearerSecurity,
  request: { params: UserIdParamsSchema },
  responses: { 204: { description: "Deleted" }, ...problemResponses(401, 403, 404, 409) },
});

export const usersRouter = createRouter()
  .openapi(createUser, async (c) => {
    const user = await c.var.services.users.create(c.var.actor, c.req.valid("json"));
    c.header("Location", `/api/users/${user.id}`);
    return c.json(toUserView(user), 201);
  })
  .openapi(listUsers, async (c) => {
    const { limit, cursor, role, status, q } = c.req.valid("query");
    const page = await c.var.services.users.list(c.var.actor, { limit, after: cursor, role, status, q });
    const last = page.users.at(-1);
    return c.json(
      { data: page.users.map(toUserView), nextCursor: page.hasMore && last ? encodeCursor(last) : null },
      200,
    );
  })
  .openapi(getUser, async (c) => {
    const { user, view } = await c.var.services.users.get(c.var.actor, c.req.valid("param").id);
    return c.json(view === "full" ? toUserView(user) : toPublicProfileView(user), 200);
  })
  .openapi(updateUser, async (c) => {
    const user = await c.var.services.users.update(c.var.actor, c.req.valid("param").id, c.req.valid("json"));
    return c.json(toUserView(user), 200);
  })
  .openapi(deleteUser, async (c) => {
    await c.var.services.users.delete(c.var.actor, c.req.valid("param").id);
    return c.body(null, 204);
  });
