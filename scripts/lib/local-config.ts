import { readFileSync } from "node:fs";
import { parse } from "smol-toml";
import { type Bindings, readConfig } from "../../src/config";
import { devVars } from "./dev-vars";

/**
 * The configuration `wrangler dev` would hand the Worker: wrangler.toml's [vars], then `.dev.vars`,
 * then `--var NAME:value` arguments, checked by the Worker's own readConfig. Returns the problem,
 * or null when the Worker would start with it.
 */
export function localConfigProblem(args: string[], extra: Record<string, string> = {}): string | null {
  const toml = parse(readFileSync("wrangler.toml", "utf8")) as { vars?: Record<string, unknown> };
  const vars = Object.fromEntries(Object.entries(toml.vars ?? {}).map(([name, value]) => [name, String(value)]));
  const flags: Record<string, string> = {};
  args.forEach((arg, index) => {
    const pair = arg === "--var" ? args[index + 1] : arg.startsWith("--var=") ? arg.slice(6) : undefined;
    const colon = pair?.indexOf(":") ?? -1;
    if (pair && colon > 0) flags[pair.slice(0, colon)] = pair.slice(colon + 1);
  });
  try {
    readConfig({ ...vars, ...devVars(), ...extra, ...flags } as unknown as Bindings);
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
