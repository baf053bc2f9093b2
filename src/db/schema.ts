import { sql } from "drizzle-orm";
import { check, index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { roles, statuses } from "../users/users.model";

export const users = sqliteTable(
  "users",
  {
    // UUIDv7: opaque, URL-safe and sorted by creation time.
    id: text("id").primaryKey(),
    email: text("email").notNull(),
    username: text("username").notNull(),
    name: text("name").notNull(),
    role: text("role", { enum: roles }).notNull().default("member"),
    status: text("status", { enum: statuses }).notNull().default("active"),
    // Self-describing PHC-style string: algorithm, parameters, salt and hash.
    passwordHash: text("password_hash").notNull(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
  },
  (table) => [
    uniqueIndex("users_email_unique").on(table.email),
    uniqueIndex("users_username_unique").on(table.username),
    // Serves the newest-first keyset pagination (scanned backwards).
    index("users_created_at_id_idx").on(table.createdAt, table.id),
    // Serves the role/status filters and the "last active admin" count.
    index("users_role_status_created_at_idx").on(table.role, table.status, table.createdAt),
    check("users_role_check", sql`${table.role} in ('admin', 'member')`),
    check("users_status_check", sql`${table.status} in ('active', 'disabled')`),
  ],
);

export const sessions = sqliteTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    // SHA-256 of the bearer token; the token itself is never stored.
    tokenHash: text("token_hash").notNull(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    expiresAt: integer("expires_at", { mode: "timestamp_ms" }).notNull(),
  },
  (table) => [
    uniqueIndex("sessions_token_hash_unique").on(table.tokenHash),
    index("sessions_user_id_idx").on(table.userId),
    index("sessions_expires_at_idx").on(table.expiresAt),
  ],
);

export type UserRow = typeof users.$inferSelect;
export type NewUserRow = typeof users.$inferInsert;
export type SessionRow = typeof sessions.$inferSelect;
