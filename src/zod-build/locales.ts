// Stands in for zod's `locales` index in the Worker bundle (wrangler.toml [alias]): English only.
// zod registers English itself; the other ~40 locales were a third of the bundle.
export { default as en } from "zod/v4/locales/en.js";
