import { existsSync, readFileSync } from "node:fs";

/** A variable from `.dev.vars`, where `wrangler dev` reads local secrets; undefined if unset. */
export function devVar(name: string): string | undefined {
  if (!existsSync(".dev.vars")) return undefined;
  const line = readFileSync(".dev.vars", "utf8")
    .split("\n")
    .find((entry) => entry.trim().startsWith(`${name}=`));
  return line
    ?.slice(line.indexOf("=") + 1)
    .trim()
    .replace(/^"(.*)"$/, "$1");
}
