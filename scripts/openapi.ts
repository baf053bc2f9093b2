/**
 * npm run openapi [-- --check]
 *
 * Writes the OpenAPI 3.1 document, as the code defines it, to docs/openapi.json: clients generate
 * from that file without running the server. `--check` writes nothing and fails when the file
 * differs from the code (CI runs it, so the committed document cannot drift).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { apiDocument, createApp } from "../src/app";
import { d1Backend } from "../src/db/d1";
import { parseOptions } from "./lib/cli";

const USAGE = `Usage: npm run openapi [-- --check]

Writes docs/openapi.json from the route definitions.
  --check     write nothing; fail if docs/openapi.json differs from the code
  -h, --help  this help`;
const values = parseOptions("openapi", USAGE, { check: { type: "boolean", default: false } });

const FILE = "docs/openapi.json";
// The committed document's server is relative ("/": wherever the API runs); a deployment serves its
// own document at /openapi.json naming its TOKEN_ISSUER.
const text = `${JSON.stringify(apiDocument(createApp(d1Backend), "/"), null, 2)}\n`;

if (values.check) {
  let committed = "";
  try {
    committed = readFileSync(FILE, "utf8");
  } catch {}
  if (committed !== text) {
    console.error(`openapi: ${FILE} is not what the code defines; run \`npm run openapi\` and commit it.`);
    process.exit(1);
  }
  console.log(`${FILE} matches the code.`);
} else {
  writeFileSync(FILE, text);
  console.log(`Wrote ${FILE}.`);
}
