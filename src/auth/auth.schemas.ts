import { z } from "@hono/zod-openapi";
import { UserSchema } from "../users/users.schemas";

export const LoginBodySchema = z
  .strictObject({
    // Deliberately looser than sign-up rules: a login must never tell which rule an input broke.
    email: z.string().trim().toLowerCase().min(1).max(254).openapi({ example: "ann@example.com" }),
    password: z.string().min(1).max(256).openapi({ example: "correct horse battery staple", format: "password" }),
  })
  .openapi("Login");

export const SessionSchema = z
  .object({
    token: z.string().openapi({ description: "Bearer token; shown only this once." }),
    expiresAt: z.string().openapi({ format: "date-time" }),
    user: UserSchema,
  })
  .openapi("Session");
