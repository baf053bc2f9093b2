import { existsSync, readFileSync } from "node:fs";
import { parseEnv } from "node:util";

/** `.dev.vars`, where `wrangler dev` reads local secrets, parsed as wrangler does (dotenv); {} if absent. */
export function devVars(): Record<string, string> {
  return existsSync(".dev.vars") ? (parseEnv(readFileSync(".dev.vars", "utf8")) as Record<string, string>) : {};
}

/** One variable from `.dev.vars`; undefined if unset. */
export function devVar(name: string): string | undefined {
  return devVars()[name];
}
