import { z } from "@hono/zod-openapi";
import { EmailSchema, PasswordSchema } from "../users/users.schemas";

const LinkTokenSchema = z.string().min(1).max(100).openapi({
  description: "The `token` of the link's query string.",
  example: "Zk3pQ1o2m0Yk2rW5sVb8kQjYv3l6N9x0aT4uE7cH1dF",
});

export const VerificationConfirmBodySchema = z.strictObject({ token: LinkTokenSchema }).openapi("VerificationConfirm");

export const PasswordResetRequestBodySchema = z.strictObject({ email: EmailSchema }).openapi("PasswordResetRequest");

export const PasswordResetConfirmBodySchema = z
  .strictObject({ token: LinkTokenSchema, password: PasswordSchema })
  .openapi("PasswordResetConfirm");

export const AcceptedSchema = z
  .object({ message: z.string().openapi({ example: "If the address belongs to an account, a link is on its way." }) })
  .openapi("Accepted", { description: "The request is taken; any mail goes out shortly, through a queue." });
