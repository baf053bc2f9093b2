import { type Bindings, isLoopbackHost, readConfig } from "../../src/config";

/** The parts of a wrangler.toml environment the preflight reads (top level, or one `[env.<name>]`). */
type WranglerEnvironment = {
  vars?: Record<string, unknown>;
  d1_databases?: { binding: string; database_id?: string }[];
  kv_namespaces?: { binding: string; id?: string }[];
};

/** The parts of wrangler.toml the preflight reads. */
export type WranglerToml = WranglerEnvironment & { env?: Record<string, WranglerEnvironment> };

const PLACEHOLDER = /^0+(-0+-4000-8000-0+)?$/;

/** The vars that hold this service's public origins: each must be https:// and not loopback. */
const ORIGIN_VARS = ["APP_URL", "TOKEN_ISSUER"] as const;

/** What `wrangler deploy <args>` would deploy: `--env` picks a section, `--var` overrides a var. */
function deployedEnvironment(toml: WranglerToml, args: readonly string[]): { env: WranglerEnvironment } {
  const name = optionValues(args, ["--env", "-e"]).at(-1);
  // vars and bindings are not inherited by [env.<name>] (wrangler's "non-inheritable keys").
  const base: WranglerEnvironment = name ? (toml.env?.[name] ?? {}) : toml;
  const overrides = Object.fromEntries(
    optionValues(args, ["--var"]).map((pair) => {
      const colon = pair.indexOf(":");
      return colon < 0 ? [pair, ""] : [pair.slice(0, colon), pair.slice(colon + 1)];
    }),
  );
  return { env: { ...base, vars: { ...base.vars, ...overrides } } };
}

/** Every value given to one of `flags`: `--flag a b`, `--flag=a`, repeated. */
function optionValues(args: readonly string[], flags: readonly string[]): string[] {
  const values: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? "";
    const inline = flags.find((flag) => arg.startsWith(`${flag}=`));
    if (inline) values.push(arg.slice(inline.length + 1));
    else if (flags.includes(arg)) {
      while (i + 1 < args.length && !(args[i + 1] ?? "").startsWith("-")) values.push(args[++i] ?? "");
    }
  }
  return values;
}

/** What `wrangler deploy <args>` would deploy broken or unsafe; empty when it is ready. */
export function preflightProblems(toml: WranglerToml, args: readonly string[] = []): string[] {
  const { env } = deployedEnvironment(toml, args);
  const problems: string[] = [];
  const name = optionValues(args, ["--env", "-e"]).at(-1);
  if (name !== undefined && !toml.env?.[name]) problems.push(`--env ${name}: wrangler.toml has no [env.${name}]`);
  for (const db of env.d1_databases ?? []) {
    if (!db.database_id || PLACEHOLDER.test(db.database_id)) {
      problems.push(
        `[[d1_databases]] ${db.binding}: database_id is the placeholder; run \`npx wrangler d1 create edge-users --binding DB --update-config\``,
      );
    }
  }
  for (const kv of env.kv_namespaces ?? []) {
    if (!kv.id || PLACEHOLDER.test(kv.id)) {
      problems.push(
        `[[kv_namespaces]] ${kv.binding}: id is the placeholder; run \`npx wrangler kv namespace create ${kv.binding} --binding ${kv.binding} --update-config\``,
      );
    }
  }
  const vars = Object.fromEntries(Object.entries(env.vars ?? {}).map(([name, value]) => [name, String(value)]));
  if ((vars.MAIL_TRANSPORT ?? "log") === "log") {
    problems.push(
      "MAIL_TRANSPORT is log: every mailed link would go to the log; set cloudflare or resend (docs/deploy.md#mail)",
    );
  }
  for (const name of ORIGIN_VARS) {
    const value = vars[name] ?? "http://localhost:8787";
    if (!URL.canParse(value)) continue; // readConfig below says what is wrong with it
    const url = new URL(value);
    if (isLoopbackHost(url.hostname)) {
      problems.push(`${name} is ${value}: set it to the deployed origin (e.g. https://users.example.com)`);
    } else if (url.protocol !== "https:") {
      problems.push(`${name} is ${value}: a deployed origin is https://`);
    }
  }
  for (const origin of (vars.CORS_ALLOWED_ORIGINS ?? "").split(",").map((item) => item.trim())) {
    if (origin && URL.canParse(origin) && new URL(origin).protocol !== "https:") {
      problems.push(`CORS_ALLOWED_ORIGINS lists ${origin}: allow https:// origins only`);
    }
  }
  if (vars.RATE_LIMITS === "off")
    problems.push("RATE_LIMITS is off: remove it; it is for npm start -- --no-rate-limits");
  if (vars.WEBHOOKS_ALLOW_LOOPBACK === "true" || vars.WEBHOOKS_ALLOW_LOOPBACK === "1")
    problems.push("WEBHOOKS_ALLOW_LOOPBACK is on: remove it; webhooks to localhost are for local development");
  if (vars.WEBHOOK_RETRY_DELAY_SCALE !== undefined && Number(vars.WEBHOOK_RETRY_DELAY_SCALE) !== 1)
    problems.push("WEBHOOK_RETRY_DELAY_SCALE shortens webhook retries: remove it; it is for tests");
  if (vars.PASSWORD_HASH_COST !== undefined && vars.PASSWORD_HASH_COST !== "standard")
    problems.push(`PASSWORD_HASH_COST is ${vars.PASSWORD_HASH_COST}: remove it; a cheaper hash is for tests`);
  try {
    // Secrets live in Cloudflare, not here: stand-ins, so that only the vars are judged.
    readConfig({ APP_SECRET: "x".repeat(32), RESEND_API_KEY: "stand-in", ...vars } as unknown as Bindings);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // The Worker's own refusal of a var this list already names adds nothing.
    const named = problems.map((problem) => problem.split(" ")[0]);
    if (!named.some((name) => message.includes(`: ${name}:`) || message.includes(`${name}=`))) problems.push(message);
  }
  return problems;
}
