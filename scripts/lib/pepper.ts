import { existsSync, readFileSync } from "node:fs";

/**
 * The pepper the Worker hashes with: PASSWORD_PEPPER from the environment, else (for the local
 * database) from `.dev.vars`, where `wrangler dev` reads it. Hashes must match the Worker's.
 */
export function readPepper(remote: boolean): string | undefined {
  if (process.env.PASSWORD_PEPPER) return process.env.PASSWORD_PEPPER;
  if (remote || !existsSync(".dev.vars")) return undefined;
  const line = readFileSync(".dev.vars", "utf8")
    .split("\n")
    .find((entry) => entry.trim().startsWith("PASSWORD_PEPPER="));
  return line
    ?.slice(line.indexOf("=") + 1)
    .trim()
    .replace(/^"(.*)"$/, "$1");
}
