/**
 * npm run create-admin -- --email <email> --username <name> [--name <display name>]
 *                         [--remote] [--persist-to <dir>]
 *
 * The password is typed at a prompt that does not echo it when run in a terminal; otherwise it
 * comes from ADMIN_PASSWORD. `--password <password>` (the contract's form) works too, with a
 * warning: npm prints the command line it runs, and a shell keeps it in its history.
 *
 * Writes an admin into the local D1 that `npm start` serves (migrations applied first), or with
 * --remote into the deployed D1. Inputs pass the API's own validation and the password gets the
 * Worker's hashing, so the admin signs in like any other user. A duplicate email or username
 * fails with a clear message and changes nothing: it is one INSERT guarded by unique indexes.
 */
import { createInterface } from "node:readline/promises";
import { Writable } from "node:stream";
import { z } from "zod";
import { uniqueViolationIn } from "../src/db/errors";
import { users } from "../src/db/schema";
import { createPasswordHasher } from "../src/lib/password";
import { newUserRow } from "../src/users/users.model";
import {
  DisplayNameSchema,
  EmailSchema,
  PasswordSchema,
  USERNAME_RULE,
  UsernameSchema,
} from "../src/users/users.schemas";
import { parseOptions } from "./lib/cli";
import { sqlBuilder } from "./lib/d1";
import { commandDatabase, DatabaseCommandError } from "./lib/database";
import { readPepper } from "./lib/pepper";

const USAGE = `Usage: npm run create-admin -- --email <email> --username <name> [--name <display name>]
                              [--remote | --libsql] [--persist-to <dir>]

Creates an admin in the local D1 database that npm start serves, with --remote in the deployed
one, or with --libsql in the libSQL database (LIBSQL_URL and LIBSQL_AUTH_TOKEN, or the local file
npm run start:node serves). Run in a terminal, it asks for the password without echoing it; otherwise it reads
ADMIN_PASSWORD. (--password <password> works too, but npm prints it and the shell keeps it.)

  --email <email>        the admin's email address (required)
  --username <name>      ${USERNAME_RULE} (required)
  --name <display name>  shown on the profile (default: the username)
  --remote               the deployed D1 database (applies no migrations: npm run db:migrate:remote)
  --libsql               the libSQL database of LIBSQL_URL, else start:node's local file
  --persist-to <dir>     the local state directory, as given to npm start
  -h, --help             this help`;

const values = parseOptions("create-admin", USAGE, {
  email: { type: "string" },
  username: { type: "string" },
  password: { type: "string" },
  name: { type: "string" },
  remote: { type: "boolean", default: false },
  libsql: { type: "boolean", default: false },
  "persist-to": { type: "string" },
});
if (values.remote && values.libsql) fail("--remote and --libsql name two different databases; choose one.");

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
if (values.password !== undefined) {
  // Taken, as the API contract says, but npm prints the command line and the shell keeps it.
  console.error(
    "create-admin: warning: a password given as --password is printed by npm and kept in your shell history; leave it out to be asked for it, or set ADMIN_PASSWORD.",
  );
}
const Identity = Input.omit({ password: true });
const identity = Identity.safeParse({ ...values, name: values.name ?? values.username });
if (!identity.success) failInvalid(identity.error.issues);
const password = values.password ?? (process.env.ADMIN_PASSWORD || (await promptPassword()));
const parsed = Input.safeParse({ ...identity.data, password });
if (!parsed.success) failInvalid(parsed.error.issues);
const input = parsed.data;

function failInvalid(issues: z.core.$ZodIssue[]): never {
  const problems = issues.map(
    (issue) => `  ${issue.path[0] === "password" ? "password" : `--${issue.path.join(".")}`}: ${issue.message}`,
  );
  fail(`invalid input\n${problems.join("\n")}\n\n${USAGE}`);
}

/** The password from a prompt that echoes nothing, asked twice; only in a terminal. */
async function promptPassword(): Promise<string> {
  if (!process.stdin.isTTY) {
    fail(
      "no password: set ADMIN_PASSWORD (read -rs ADMIN_PASSWORD && export ADMIN_PASSWORD), or run in a terminal to be asked.",
    );
  }
  // Typed characters go to a stream that writes nothing; the questions are written directly.
  const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
  const prompt = createInterface({ input: process.stdin, output: silent, terminal: true });
  const ask = async (question: string) => {
    process.stdout.write(question);
    const answer = await prompt.question("");
    process.stdout.write("\n");
    return answer;
  };
  try {
    const first = await ask("Password for the new admin (not shown): ");
    if ((await ask("The same again: ")) !== first) fail("the two passwords differ; nothing was changed.");
    return first;
  } catch {
    // Ctrl+C or Ctrl+D at the prompt.
    process.stdout.write("\n");
    fail("cancelled; nothing was changed.");
  } finally {
    prompt.close();
  }
}
const database = commandDatabase({ remote: values.remote, libsql: values.libsql, persistTo: values["persist-to"] });
const { where } = database;

try {
  if (database.local) console.log("Applying pending migrations to the local database…");
  await database.prepare();
  const now = new Date();
  // A deployment's pepper comes from the environment; the local D1 one may sit in .dev.vars.
  const hasher = createPasswordHasher({ pepper: readPepper(values.remote || values.libsql) });
  console.log("Hashing the password (scrypt, as the Worker does)…");
  const row = newUserRow({ ...input, role: "admin", emailVerified: true }, await hasher.hash(input.password), now);
  console.log(`Writing the admin into ${where}…`);
  const insert = sqlBuilder
    .insert(users)
    .values(row)
    .returning({ id: users.id, email: users.email, username: users.username });
  const [rows] = await database.run([insert.toSQL()]);
  const admin = rows?.[0];
  console.log(`Created admin ${admin?.username} <${admin?.email}> (id ${admin?.id}) in ${where}.`);
} catch (error) {
  if (error instanceof DatabaseCommandError) {
    const duplicate = uniqueViolationIn(error.output);
    if (duplicate) fail(`a user with this ${duplicate} already exists in ${where}; nothing was changed.`);
    if (/no such table/.test(error.output)) {
      fail(`${where} has no users table yet; apply migrations first (${database.migrateCommand}).`);
    }
    fail(`${error.message}\n${error.output.trim()}`);
  }
  throw error;
} finally {
  database.close();
}
