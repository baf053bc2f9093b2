/**
 * npm run db:seed [-- --persist-to <dir>] [--libsql]
 *
 * A few demo users in a LOCAL database for exploring the API: the D1 one `npm start` serves, or
 * with --libsql the file `start:node` serves. Never a deployed database (the demo password is
 * public). Users that already exist are left alone, so it can run twice.
 */
import { users } from "../src/db/schema";
import { createPasswordHasher } from "../src/lib/password";
import { newUserRow } from "../src/users/users.model";
import { parseOptions } from "./lib/cli";
import { sqlBuilder } from "./lib/d1";
import { commandDatabase, type Query } from "./lib/database";
import { readPepper } from "./lib/pepper";

const DEMO_PASSWORD = "demo password 1234";

const demoUsers = [
  { email: "ada@example.com", username: "ada", name: "Ada Lovelace", role: "admin" },
  { email: "grace@example.com", username: "grace", name: "Grace Hopper", role: "member" },
  { email: "linus@example.com", username: "linus", name: "Linus Torvalds", role: "member" },
  { email: "barbara@example.com", username: "barbara", name: "Barbara Liskov", role: "member" },
] as const;

const USAGE = `Usage: npm run db:seed [-- --persist-to <dir>] [--libsql]

Adds the demo users ${demoUsers.map((user) => user.username).join(", ")} (password "demo password 1234") to a LOCAL
database: the D1 one npm start serves, or with --libsql the libSQL file npm run start:node serves
(LIBSQL_URL, if it is a file: URL). Users that exist already are left as they are. Never a
deployed database: the demo password is public.`;
const values = parseOptions("db:seed", USAGE, {
  "persist-to": { type: "string" },
  libsql: { type: "boolean", default: false },
});
const database = commandDatabase({ libsql: values.libsql, persistTo: values["persist-to"] });
if (!database.local) {
  console.error(
    `db:seed: ${database.where} is not a local database; demo users with a public password go only into local ones.`,
  );
  process.exit(1);
}

try {
  await database.prepare();
  const hasher = createPasswordHasher({ pepper: readPepper(values.libsql) });
  const inserts: Query[] = [];
  for (const [index, user] of demoUsers.entries()) {
    // Distinct, ordered timestamps so the demo list has a stable newest-first order.
    const at = new Date(Date.now() - (demoUsers.length - index) * 1000);
    const insert = sqlBuilder
      .insert(users)
      .values(newUserRow({ ...user, emailVerified: true }, await hasher.hash(DEMO_PASSWORD), at))
      .onConflictDoNothing()
      .returning({ email: users.email });
    inserts.push(insert.toSQL());
  }
  const results = await database.run(inserts);
  const created = new Set(results.flat().map((row) => String(row.email)));
  console.log(`Demo users in ${database.where} (password "${DEMO_PASSWORD}"):`);
  for (const user of demoUsers) {
    const state = created.has(user.email) ? "created" : "already there, left as it was";
    console.log(`  ${user.role.padEnd(6)} ${user.email.padEnd(22)} ${state}`);
  }
} finally {
  database.close();
}
