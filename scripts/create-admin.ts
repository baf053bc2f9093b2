/**
 * npm run create-admin -- --email <email> --username <name> --password <password> [--name <display name>]
 *                         [--remote] [--persist-to <dir>]
 *
 * The password may come from ADMIN_PASSWORD instead of --password, which keeps it out of shell
 * history and out of the command line npm echoes.
 *
 * Writes an admin into the local D1 that `npm start` serves (migrations applied first), or with
 * --remote into the deployed D1. Inputs pass the API's own validation and the password gets the
 * Worker's hashing, so the admin signs in like any other user. A duplicate email or username
 * fails with a clear message and changes nothing: it is one INSERT guarded by unique indexes.
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { uniqueViolationIn } from "../src/db/errors";
import { users } from "../src/db/schema";
import { createPasswordHasher } from "../src/lib/password";
import { newUserRow } from "../src/users/users.model";
import { DisplayNameSchema, EmailSchema, PasswordSchema, UsernameSchema } from "../src/users/users.schemas";
import { applyLocalMigrations, D1CommandError, execute, sqlBuilder, type Target, toLiteralSql } from "./lib/d1";
import { readPepper } from "./lib/pepper";

const { values } = parseArgs({
  options: {
    email: { type: "string" },
    username: { type: "string" },
    password: { type: "string" },
    name: { type: "string" },
    remote: { type: "boolean", default: false },
    "persist-to": { type: "string" },
  },
  strict: true,
});

function fail(message: string): never {
  console.error(`create-admin: ${message}`);
  process.exit(1);
}

const Input = z.object({
  email: EmailSchema,
  username: UsernameSchema,
  password: PasswordSchema,
  name: DisplayNameSchema,
});
const parsed = Input.safeParse({
  ...values,
  password: values.password ?? process.env.ADMIN_PASSWORD,
  name: values.name ?? values.username,
});
if (!parsed.success) {
  const problems = parsed.error.issues.map((issue) => `  --${issue.path.join(".")}: ${issue.message}`);
  fail(
    `invalid input\n${problems.join("\n")}\nusage: npm run create-admin -- --email <email> --username <name> --password <password>`,
  );
}
const input = parsed.data;
const target: Target = { remote: values.remote ?? false, persistTo: values["persist-to"] };
const where = target.remote ? "the deployed (remote) D1 database" : "the local D1 database";

try {
  applyLocalMigrations(target);
  const now = new Date();
  const hasher = createPasswordHasher({ pepper: readPepper(target.remote) });
  const row = newUserRow({ ...input, role: "admin", emailVerified: true }, await hasher.hash(input.password), now);
  const insert = sqlBuilder
    .insert(users)
    .values(row)
    .returning({ id: users.id, email: users.email, username: users.username });
  const [rows] = execute(target, toLiteralSql(insert.toSQL()));
  const admin = rows?.[0];
  console.log(`Created admin ${admin?.username} <${admin?.email}> (id ${admin?.id}) in ${where}.`);
} catch (error) {
  if (error instanceof D1CommandError) {
    const duplicate = uniqueViolationIn(error.output);
    if (duplicate) fail(`a user with this ${duplicate} already exists in ${where}; nothing was changed.`);
    if (/no such table/.test(error.output)) {
      fail(`${where} has no users table yet; apply migrations first (npm run db:migrate:remote).`);
    }
    fail(`${error.message}\n${error.output.trim()}`);
  }
  throw error;
}
