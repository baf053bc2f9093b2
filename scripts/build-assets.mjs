// npm run build:assets (and postinstall): the static files the Worker serves (Workers Static
// Assets, public/), built from installed packages so nothing is fetched from another host at run
// time. Plain JavaScript on purpose: it runs at install, before any TypeScript tooling is there,
// and must not fail a production install that leaves the dev dependencies out.
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

const root = new URL("..", import.meta.url).pathname;

// The API reference page (/docs): Scalar's prebuilt browser bundle, pinned in package.json and
// served under its version, so browsers may cache it for good.
const scalar = join(root, "node_modules/@scalar/api-reference");
if (existsSync(join(scalar, "package.json"))) {
  const { version } = JSON.parse(readFileSync(join(scalar, "package.json"), "utf8"));
  const source = join(scalar, "dist/browser/standalone.js");
  const target = join(root, "public/docs/assets", `scalar-${version}.js`);
  if (!existsSync(target)) {
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(source, target);
  }
} else {
  console.warn("build:assets: @scalar/api-reference is not installed (a production install?); /docs has no assets");
}

// The admin console (/admin): src/admin/console.ts bundled for the browser with esbuild (which
// wrangler brings). The HTML and CSS beside it are committed as they are.
let esbuild;
try {
  esbuild = await import("esbuild");
} catch {
  console.warn("build:assets: esbuild is not installed (a production install?); /admin has no script");
  process.exit(0);
}
await esbuild.build({
  entryPoints: [join(root, "src/admin/console.ts")],
  outfile: join(root, "public/admin/admin.js"),
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  legalComments: "none",
  logLevel: "warning",
});
