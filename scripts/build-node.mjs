// npm run build:node: edge-users for Node as plain JavaScript, dist/node.mjs, that runs with the
// production dependencies only (`npm ci --omit=dev`): every package stays an import, resolved
// from node_modules at run time; our own code is bundled. Run it with `node dist/node.mjs`.
import { build } from "esbuild";

await build({
  entryPoints: ["src/node.ts"],
  outfile: "dist/node.mjs",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  packages: "external",
  sourcemap: true,
  legalComments: "none",
  logLevel: "warning",
});
console.log("Built dist/node.mjs: node dist/node.mjs [--port 8788] [--host ::]");
