/**
 * `npm start`: applies pending migrations to the local D1, then serves the Worker with
 * `wrangler dev` on http://localhost:8787. Arguments go to `wrangler dev` (`npm start -- --port 9000`);
 * `--persist-to <dir>` is also given to the migration step, so both use the same local state.
 *
 * APP_SECRET comes from the environment or `.dev.vars`; without either, a local one is made once
 * and kept in the local state directory (see localAppSecret). It reaches wrangler through a file
 * only the user can read (`--env-file`), never on a command line, where `ps` shows it to anyone.
 *
 * The configuration (wrangler.toml, .dev.vars, --var) is checked as the Worker checks it before
 * anything starts: a bad value stops here with its message, not as a 500 on every request.
 *
 * PASSWORD_BREACH_CHECK is off (no calls to Pwned Passwords, so it runs offline) unless `.dev.vars`
 * or a `--var PASSWORD_BREACH_CHECK:refuse` says otherwise.
 *
 * `--no-rate-limits` turns the rate limits off for requests to localhost, for a frontend's test
 * suite that signs up many users from one address (RATE_LIMITS=off; the Worker ignores it for any
 * other host and refuses it with a public APP_URL, and `npm run deploy` refuses it in wrangler.toml).
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { localAppSecret } from "../src/node/config";
import { devVar } from "./lib/dev-vars";
import { localConfigProblem } from "./lib/local-config";

const noRateLimits = process.argv.includes("--no-rate-limits");
const args = process.argv.slice(2).filter((arg) => arg !== "--no-rate-limits");
const persistIndex = args.indexOf("--persist-to");
const persistTo = persistIndex >= 0 ? ["--persist-to", args[persistIndex + 1] ?? ""] : [];

const secret = devVar("APP_SECRET")
  ? undefined
  : (process.env.APP_SECRET ?? localAppSecret(persistTo[1] || ".wrangler/state"));
const limitsVar = noRateLimits ? ["--var", "RATE_LIMITS:off"] : [];
// Offline by default: no lookups in Pwned Passwords unless .dev.vars or a --var asks for them.
const breachVar =
  devVar("PASSWORD_BREACH_CHECK") || args.some((arg) => arg.includes("PASSWORD_BREACH_CHECK"))
    ? []
    : ["--var", "PASSWORD_BREACH_CHECK:off"];
const problem = localConfigProblem([...limitsVar, ...breachVar, ...args], secret ? { APP_SECRET: secret } : {});
if (problem) {
  console.error(
    `npm start: the Worker would refuse this configuration (wrangler.toml, .dev.vars, --var):\n  ${problem}`,
  );
  process.exit(1);
}
if (noRateLimits) console.warn("npm start: rate limits are OFF for requests to localhost (--no-rate-limits).");

// stdin is not a terminal here, so wrangler applies migrations without asking (no prompt).
const migrate = spawnSync("wrangler", ["d1", "migrations", "apply", "DB", "--local", ...persistTo], {
  stdio: ["ignore", "inherit", "inherit"],
});
if (migrate.status !== 0) {
  console.error("Applying migrations to the local database failed; not starting the server.");
  process.exit(migrate.status ?? 1);
}

// wrangler reads .dev.vars itself; a secret from the environment or the local state is handed over
// in a 0600 file. Given --env-file, wrangler reads only the files named, so .dev.vars (or the .env
// files it would have read) come first and the secret's file last.
const secretFile = secret ? writeSecretFile(persistTo[1] || ".wrangler/state", secret) : undefined;
// Readable logs, and the Analytics Engine data points production would record, in the terminal.
const devArgs = [
  "dev",
  "--show-interactive-dev-session=false",
  "--var",
  "LOG_FORMAT:pretty",
  ...(secretFile ? [...envFilesWranglerWouldRead(args), secretFile].flatMap((file) => ["--env-file", file]) : []),
  ...limitsVar,
  ...breachVar,
  ...args,
];
const dev = spawn("wrangler", devArgs, { stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => dev.kill(signal));
}
dev.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

function writeSecretFile(directory: string, value: string): string {
  mkdirSync(directory, { recursive: true });
  const path = join(directory, "app-secret.env");
  writeFileSync(path, `APP_SECRET=${value}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

/** The files `wrangler dev` loads when not given --env-file: .dev.vars, else the .env files. */
function envFilesWranglerWouldRead(devArgs: string[]): string[] {
  if (devArgs.includes("--env-file")) return [];
  if (existsSync(".dev.vars")) return [".dev.vars"];
  return [".env", ".env.local"].filter((file) => existsSync(file));
}
