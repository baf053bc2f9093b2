import { z } from "zod";
import { roles, statuses, type User } from "../users/users.model";

// What KV holds for a user: the user without its password hash (never cached), dates as epoch ms.
const CachedUserSchema = z.object({
  id: z.string(),
  email: z.string(),
  username: z.string(),
  name: z.string(),
  role: z.enum(roles),
  status: z.enum(statuses),
  createdAt: z.number(),
  updatedAt: z.number(),
  version: z.number().int(),
});

export function toCachedUser(user: User): z.infer<typeof CachedUserSchema> {
  return { ...user, createdAt: user.createdAt.getTime(), updatedAt: user.updatedAt.getTime() };
}

export function parseCachedUser(value: unknown): User | null {
  const parsed = CachedUserSchema.safeParse(value);
  if (!parsed.success) return null;
  return { ...parsed.data, createdAt: new Date(parsed.data.createdAt), updatedAt: new Date(parsed.data.updatedAt) };
}

// What KV holds for a session: who it belongs to and until when. Never the token or anything mutable.
const CachedSessionSchema = z.object({ id: z.string(), userId: z.string(), expiresAt: z.number() });
export type CachedSession = z.infer<typeof CachedSessionSchema>;

export function parseCachedSession(value: unknown): CachedSession | null {
  const parsed = CachedSessionSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}
