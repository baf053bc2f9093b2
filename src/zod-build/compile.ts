// Stands in for zod's experimental `z.compile` in the Worker bundle (wrangler.toml [alias]):
// edge-users never compiles schemas, and a Worker may not generate code at run time anyway.
const unavailable = () => {
  throw new Error("z.compile is not part of the edge-users bundle");
};
export const INVALID = Symbol.for("zod.compile.invalid");
export class ZodCompileAsyncError extends Error {}
export class ZodCompileUnsupportedError extends Error {}
export const compile = unavailable;
export const compileFn = unavailable;
export const withParser = unavailable;
