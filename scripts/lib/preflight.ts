import { type Bindings, isLoopbackHost, readConfig } from "../../src/config";

/** The parts of wrangler.toml the preflight reads. */
export type WranglerToml = {
  vars?: Record<string, unknown>;
  d1_databases?: { binding: string; database_id?: string }[];
  kv_namespaces?: { binding: string; id?: string }[];
};

const PLACEHOLDER = /^0+(-0+-4000-8000-0+)?$/;

/** What in wrangler.toml would deploy a broken or unsafe Worker; empty when it is ready. */
export function preflightProblems(toml: WranglerToml): string[] {
  const problems: string[] = [];
  for (const db of toml.d1_databases ?? []) {
    if (!db.database_id || PLACEHOLDER.test(db.database_id)) {
      problems.push(
        `[[d1_databases]] ${db.binding}: database_id is the placeholder; run \`npx wrangler d1 create edge-users --binding DB --update-config\``,
      );
    }
  }
  for (const kv of toml.kv_namespaces ?? []) {
    if (!kv.id || PLACEHOLDER.test(kv.id)) {
      problems.push(
        `[[kv_namespaces]] ${kv.binding}: id is the placeholder; run \`npx wrangler kv namespace create ${kv.binding} --binding ${kv.binding} --update-config\``,
      );
    }
  }
  const vars = Object.fromEntries(Object.entries(toml.vars ?? {}).map(([name, value]) => [name, String(value)]));
  if ((vars.MAIL_TRANSPORT ?? "log") === "log") {
    problems.push(
      "MAIL_TRANSPORT is log: every mailed link would go to the log; set cloudflare or resend (docs/deploy.md#mail)",
    );
  }
  for (const name of ["APP_URL", "TOKEN_ISSUER"] as const) {
    const value = vars[name] ?? "http://localhost:8787";
    if (URL.canParse(value) && isLoopbackHost(new URL(value).hostname)) {
      problems.push(`${name} is ${value}: set it to the deployed origin (e.g. https://users.example.com)`);
    }
  }
  if (vars.RATE_LIMITS === "off")
    problems.push("RATE_LIMITS is off: remove it; it is for npm start -- --no-rate-limits");
  try {
    // Secrets live in Cloudflare, not here: stand-ins, so that only the vars are judged.
    readConfig({ APP_SECRET: "x".repeat(32), RESEND_API_KEY: "stand-in", ...vars } as unknown as Bindings);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (!problems.some((problem) => message.includes(problem))) problems.push(message);
  }
  return problems;
}
