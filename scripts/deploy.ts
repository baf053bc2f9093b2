/**
 * npm run deploy [-- <wrangler deploy arguments>]   (npm run deploy:libsql: the libSQL build)
 *
 * `wrangler deploy`, after a preflight of wrangler.toml that refuses what would deploy a broken or
 * unsafe Worker: the placeholder D1 and KV ids, MAIL_TRANSPORT=log (links in the log), an APP_URL
 * or TOKEN_ISSUER on localhost or on http://, http:// CORS origins, RATE_LIMITS=off, a test-only
 * PASSWORD_HASH_COST, or any var the Worker itself would refuse. It judges what wrangler would
 * deploy: the `[env.<name>]` section `--env` picks (vars and bindings are not inherited) with the
 * `--var` overrides on top.
 * `--dry-run` (a build, nothing uploaded) skips the preflight.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { parse } from "smol-toml";
import { preflightProblems, type WranglerToml } from "./lib/preflight";

const args = process.argv.slice(2);
if (!args.includes("--dry-run")) {
  const problems = preflightProblems(parse(readFileSync("wrangler.toml", "utf8")) as WranglerToml, args);
  if (problems.length > 0) {
    console.error(
      `npm run deploy: not deploying; wrangler.toml is not ready for production:\n${problems.map((p) => `  - ${p}`).join("\n")}\nThe steps: README.md, "Deploy to Cloudflare".`,
    );
    process.exit(1);
  }
}
const deploy = spawnSync("wrangler", ["deploy", ...args], { stdio: "inherit" });
process.exit(deploy.status ?? 1);
