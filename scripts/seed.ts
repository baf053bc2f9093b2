/**
 * npm run db:seed [-- --persist-to <dir>]
 *
 * A few demo users in the LOCAL database for exploring the API. Never runs against the deployed
 * database (there is no --remote). Users that already exist are left alone, so it can run twice.
 */
import { users } from "../src/db/schema";
import { createPasswordHasher } from "../src/lib/password";
import { newUserRow } from "../src/users/users.model";
import { parseOptions } from "./lib/cli";
import { applyLocalMigrations, execute, sqlBuilder, type Target, toLiteralSql } from "./lib/d1";
import { readPepper } from "./lib/pepper";

const DEMO_PASSWORD = "demo password 1234";

const demoUsers = [
  { email: "ada@example.com", username: "ada", name: "Ada Lovelace", role: "admin" },
  { email: "grace@example.com", username: "grace", name: "Grace Hopper", role: "member" },
  { email: "linus@example.com", username: "linus", name: "Linus Torvalds", role: "member" },
  { email: "barbara@example.com", username: "barbara", name: "Barbara Liskov", role: "member" },
] as const;

const USAGE = `Usage: npm run db:seed [-- --persist-to <dir>]

Adds the demo users ${demoUsers.map((user) => user.username).join(", ")} (password "demo password 1234") to the LOCAL
database npm start serves. Users that exist already are left as they are.`;
const values = parseOptions("db:seed", USAGE, { "persist-to": { type: "string" } });
const target: Target = { remote: false, persistTo: values["persist-to"] };

applyLocalMigrations(target);
const hasher = createPasswordHasher({ pepper: readPepper(false) });
const statements: string[] = [];
for (const [index, user] of demoUsers.entries()) {
  // Distinct, ordered timestamps so the demo list has a stable newest-first order.
  const at = new Date(Date.now() - (demoUsers.length - index) * 1000);
  const insert = sqlBuilder
    .insert(users)
    .values(newUserRow({ ...user, emailVerified: true }, await hasher.hash(DEMO_PASSWORD), at))
    .onConflictDoNothing()
    .returning({ email: users.email });
  statements.push(toLiteralSql(insert.toSQL()));
}
const results = execute(target, statements.join(";\n"));
const created = new Set(results.flat().map((row) => String(row.email)));
console.log(`Demo users in the local database (password "${DEMO_PASSWORD}"):`);
for (const user of demoUsers) {
  const state = created.has(user.email) ? "created" : "already there, left as it was";
  console.log(`  ${user.role.padEnd(6)} ${user.email.padEnd(22)} ${state}`);
}
