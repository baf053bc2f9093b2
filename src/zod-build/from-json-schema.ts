// Stands in for zod's `z.fromJSONSchema` in the Worker bundle (wrangler.toml [alias]): edge-users
// builds its schemas in code and never reads JSON Schema back.
export function fromJSONSchema(): never {
  throw new Error("z.fromJSONSchema is not part of the edge-users bundle");
}
