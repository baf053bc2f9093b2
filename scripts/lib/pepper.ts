import { existsSync, readFileSync } from "node:fs";

/**
 * The pepper the Worker hashes with: PASSWORD_PEPPER from the environment (set but empty means
 * none), else, for the local database, from `.dev.vars`, where `wrangler dev` reads it.
 */
export function readPepper(remote: boolean): string | undefined {
  const pepper = process.env.PASSWORD_PEPPER ?? (remote ? undefined : fromDevVars());
  if (!pepper) return undefined;
  // The Worker refuses a shorter pepper (src/env.ts); a hash made with one could never be used.
  if (pepper.length < 16) throw new Error("PASSWORD_PEPPER must be at least 16 characters");
  return pepper;
}

function fromDevVars(): string | undefined {
  if (!existsSync(".dev.vars")) return undefined;
  const line = readFileSync(".dev.vars", "utf8")
    .split("\n")
    .find((entry) => entry.trim().startsWith("PASSWORD_PEPPER="));
  return line
    ?.slice(line.indexOf("=") + 1)
    .trim()
    .replace(/^"(.*)"$/, "$1");
}
