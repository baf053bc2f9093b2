import { z } from "@hono/zod-openapi";
import { UserSchema } from "../users/users.schemas";

export const LoginBodySchema = z
  .strictObject({
    // Deliberately looser than sign-up rules: a login must never tell which rule an input broke.
    email: z.string().trim().toLowerCase().min(1).max(254).openapi({ example: "ann@example.com" }),
    password: z.string().min(1).max(256).openapi({ example: "correct horse battery staple", format: "password" }),
  })
  .openapi("Login");

export const SignInSchema = z
  .object({
    token: z.string().openapi({ description: "The session's bearer token; shown only this once." }),
    expiresAt: z.string().openapi({ format: "date-time" }),
    accessToken: z.string().openapi({
      description:
        "A signed JWT (RFC 9068 `at+jwt`, ES256) for this session, verifiable with `/.well-known/jwks.json`; lives ACCESS_TOKEN_TTL_SECONDS (5 min by default). Renew it with `POST /api/auth/token`.",
    }),
    accessTokenExpiresAt: z.string().openapi({ format: "date-time" }),
    user: UserSchema,
  })
  .openapi("SignIn", { description: "A sign-in's answer: the new session's token, an access token, and the user." });

export const AccessTokenSchema = z
  .object({
    accessToken: z.string(),
    tokenType: z.literal("Bearer"),
    expiresIn: z.number().int().openapi({ description: "Seconds until the token expires", example: 300 }),
  })
  .openapi("AccessToken");

export const SessionIdParamsSchema = z.object({
  id: z
    .string()
    .max(100)
    .openapi({ param: { name: "id", in: "path" }, example: "01936b2e-7c4a-7d1e-9a3b-5f0c2d8e4a61" }),
});

const SessionViewSchema = z
  .object({
    id: z.string(),
    createdAt: z.string().openapi({ format: "date-time" }),
    expiresAt: z.string().openapi({ format: "date-time" }),
    current: z.boolean().openapi({ description: "The session of the token that made this request" }),
    userAgent: z
      .string()
      .nullable()
      .openapi({ description: "The User-Agent of the sign-in (cleaned, at most 256 characters)" }),
  })
  .openapi("Session", { description: "A live session, as its owner sees it (never its token)." });

export const SessionListSchema = z
  .object({
    data: z.array(SessionViewSchema),
  })
  .openapi("SessionList", { description: "The caller's live sessions, newest first (at most 100)." });
