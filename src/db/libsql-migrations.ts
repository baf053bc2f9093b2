import type { Client } from "@libsql/client/web";

export type Migration = { name: string; sql: string };

/**
 * Applies the SQL migrations in drizzle/ to a libSQL database, in name order, with their records,
 * and skips those already applied: a second run is a no-op. Records go to `d1_migrations`, the
 * table and shape wrangler uses for D1, so both backends read alike.
 *
 * Safe to run from several processes at once (two `start:node` booting together, a deploy script
 * beside a running server): the whole check-and-apply runs in one write transaction (BEGIN
 * IMMEDIATE), so the second process waits for the first, then finds everything applied. While a
 * process holds the lock, another retries for up to `waitMs`.
 *
 * Within one process the calls take turns instead: a connection refused the lock keeps its failed
 * BEGIN active until the garbage collector finalises it, and every COMMIT on it is refused in the
 * meantime (seconds). Two connections of one process gain nothing by racing for one file's lock.
 */
export async function applyLibsqlMigrations(
  client: Client,
  migrations: Migration[],
  { waitMs = 30_000 }: { waitMs?: number } = {},
): Promise<string[]> {
  const turn = inProcessTurn.then(() => applyWaiting(client, migrations, waitMs));
  inProcessTurn = turn.then(
    () => undefined,
    () => undefined,
  );
  return turn;
}

// The end of the latest call in this process; the next one starts after it.
let inProcessTurn: Promise<void> = Promise.resolve();

async function applyWaiting(client: Client, migrations: Migration[], waitMs: number): Promise<string[]> {
  const deadline = Date.now() + waitMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await applyLocked(client, migrations);
    } catch (error) {
      if (!isBusy(error) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(25 * 2 ** attempt, 250)));
    }
  }
}

async function applyLocked(client: Client, migrations: Migration[]): Promise<string[]> {
  const tx = await client.transaction("write");
  try {
    await tx.execute(
      "create table if not exists d1_migrations (id integer primary key autoincrement, name text unique, applied_at timestamp default current_timestamp not null)",
    );
    const { rows } = await tx.execute("select name from d1_migrations");
    const applied = new Set(rows.map((row) => String(row.name)));
    const pending = [...migrations].sort((a, b) => (a.name < b.name ? -1 : 1)).filter((m) => !applied.has(m.name));
    for (const migration of pending) {
      const statements = migration.sql
        .split("--> statement-breakpoint")
        .map((statement) => statement.trim())
        .filter(Boolean);
      for (const statement of statements) await tx.execute(statement);
      await tx.execute({ sql: "insert into d1_migrations (name) values (?)", args: [migration.name] });
    }
    await tx.commit();
    return pending.map((migration) => migration.name);
  } catch (error) {
    await tx.rollback().catch(() => undefined);
    throw error;
  } finally {
    tx.close();
  }
}

/** Another connection holds the write lock (SQLITE_BUSY / "database is locked"). */
function isBusy(error: unknown): boolean {
  const text = `${(error as { code?: string })?.code ?? ""} ${error instanceof Error ? error.message : ""}`;
  return /SQLITE_BUSY|database is locked/i.test(text);
}
