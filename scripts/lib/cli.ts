import { type ParseArgsConfig, parseArgs } from "node:util";

type Options = NonNullable<ParseArgsConfig["options"]>;
type Values<O extends Options> = ReturnType<typeof parseArgs<{ options: O; strict: true }>>["values"];

/**
 * Command-line options the way people expect of a tool: `--help` prints the usage and exits 0;
 * an unknown or malformed option prints one line and the usage and exits 2 (never a stack).
 */
export function parseOptions<O extends Options>(command: string, usage: string, options: O): Values<O> {
  try {
    const { values } = parseArgs({ options: { ...options, help: { type: "boolean", short: "h" } }, strict: true });
    if ((values as { help?: boolean }).help) {
      console.log(usage);
      process.exit(0);
    }
    return values as Values<O>;
  } catch (error) {
    console.error(`${command}: ${error instanceof Error ? error.message : String(error)}\n\n${usage}`);
    process.exit(2);
  }
}
