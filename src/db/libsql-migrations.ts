import type { Client } from "@libsql/client/web";

export type Migration = { name: string; sql: string };

/**
 * Applies the SQL migrations in drizzle/ to a libSQL database, in name order, each with its record
 * in one write transaction, and skips those already applied: a second run is a no-op. Records go
 * to `d1_migrations`, the table and shape wrangler uses for D1, so both backends read alike.
 */
export async function applyLibsqlMigrations(client: Client, migrations: Migration[]): Promise<string[]> {
  await client.execute(
    "create table if not exists d1_migrations (id integer primary key autoincrement, name text unique, applied_at timestamp default current_timestamp not null)",
  );
  const { rows } = await client.execute("select name from d1_migrations");
  const applied = new Set(rows.map((row) => String(row.name)));
  const pending = [...migrations].sort((a, b) => (a.name < b.name ? -1 : 1)).filter((m) => !applied.has(m.name));
  for (const migration of pending) {
    const statements = migration.sql
      .split("--> statement-breakpoint")
      .map((statement) => statement.trim())
      .filter(Boolean);
    await client.batch(
      [...statements, { sql: "insert into d1_migrations (name) values (?)", args: [migration.name] }],
      "write",
    );
  }
  return pending.map((migration) => migration.name);
}
