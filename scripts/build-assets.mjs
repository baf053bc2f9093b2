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
if (!existsSync(join(scalar, "package.json"))) {
  console.warn("build:assets: @scalar/api-reference is not installed (a production install?); /docs has no assets");
  process.exit(0);
}
const { version } = JSON.parse(readFileSync(join(scalar, "package.json"), "utf8"));
const source = join(scalar, "dist/browser/standalone.js");
const target = join(root, "public/docs/assets", `scalar-${version}.js`);
if (!existsSync(target)) {
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(source, target);
}
