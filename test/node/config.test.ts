import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "smol-toml";
import { describe, expect, it } from "vitest";
import { preflightProblems, type WranglerToml } from "../../scripts/lib/preflight";
import { SCALAR_VERSION } from "../../src/docs/docs.routes";
import { rateLimitPolicies } from "../../src/limits/policies";

const toml = readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8");

describe("wrangler.toml and the code agree", () => {
  it("every rate limit policy the Worker announces is the one its binding enforces", () => {
    const configured = [
      ...toml.matchAll(
        /\[\[ratelimits\]\]\s*name = "(\w+)"\s*namespace_id = "\d+"\s*simple = \{ limit = (\d+), period = (\d+) \}/g,
      ),
    ].map(([, binding, limit, period]) => ({ binding, limit: Number(limit), periodSeconds: Number(period) }));
    const announced = Object.values(rateLimitPolicies).map(({ binding, limit, periodSeconds }) => ({
      binding,
      limit,
      periodSeconds,
    }));
    expect(configured).toEqual(expect.arrayContaining(announced));
    expect(configured).toHaveLength(announced.length);
  });
});

describe("package.json and the code agree", () => {
  it("/docs loads the Scalar version package.json pins (exactly), which build:assets copies", () => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      devDependencies: Record<string, string>;
    };
    expect(pkg.devDependencies["@scalar/api-reference"]).toBe(SCALAR_VERSION);
  });
});

describe("npm run deploy's preflight", () => {
  const shipped = parse(toml) as WranglerToml;

  it("refuses the wrangler.toml this repository ships: placeholders, log mail, localhost origins", () => {
    const problems = preflightProblems(shipped);
    expect(problems).toEqual([
      expect.stringMatching(/^\[\[d1_databases\]\] DB: database_id is the placeholder/),
      expect.stringMatching(/^\[\[kv_namespaces\]\] CACHE: id is the placeholder/),
      expect.stringMatching(/^MAIL_TRANSPORT is log/),
      expect.stringMatching(/^APP_URL is http:\/\/localhost:8787/),
      expect.stringMatching(/^TOKEN_ISSUER is http:\/\/localhost:8787/),
    ]);
  });

  it("passes a wrangler.toml made ready as the README says, and refuses RATE_LIMITS=off or a bad value", () => {
    const ready: WranglerToml = {
      ...shipped,
      d1_databases: [{ binding: "DB", database_id: "4b0c2a3e-5f61-4d1a-9c2b-7e8f9a0b1c2d" }],
      kv_namespaces: [{ binding: "CACHE", id: "0f1e2d3c4b5a69788796a5b4c3d2e1f0" }],
      vars: {
        ...shipped.vars,
        MAIL_TRANSPORT: "cloudflare",
        APP_URL: "https://app.example.com",
        TOKEN_ISSUER: "https://users.example.com",
      },
    };
    expect(preflightProblems(ready)).toEqual([]);
    const limitsOff = preflightProblems({ ...ready, vars: { ...ready.vars, RATE_LIMITS: "off" } });
    expect(limitsOff[0]).toMatch(/^RATE_LIMITS is off/);
    expect(limitsOff.every((problem) => problem.includes("RATE_LIMITS"))).toBe(true);
    expect(preflightProblems({ ...ready, vars: { ...ready.vars, SESSION_TTL_SECONDS: "1" } })).toEqual([
      expect.stringMatching(/SESSION_TTL_SECONDS/),
    ]);
  });

  it("judges what wrangler would deploy: the --env section and the --var overrides", () => {
    const ready: WranglerToml = {
      d1_databases: [{ binding: "DB", database_id: "4b0c2a3e-5f61-4d1a-9c2b-7e8f9a0b1c2d" }],
      kv_namespaces: [{ binding: "CACHE", id: "0f1e2d3c4b5a69788796a5b4c3d2e1f0" }],
      vars: {
        MAIL_TRANSPORT: "cloudflare",
        APP_URL: "https://app.example.com",
        TOKEN_ISSUER: "https://users.example.com",
      },
    };
    // A ready top level does not vouch for an [env] section: vars and bindings are not inherited.
    const staging: WranglerToml = {
      ...ready,
      env: {
        staging: {
          d1_databases: ready.d1_databases,
          kv_namespaces: ready.kv_namespaces,
          vars: {
            MAIL_TRANSPORT: "log",
            APP_URL: "http://localhost:8787",
            TOKEN_ISSUER: "https://s.example.com",
            RATE_LIMITS: "off",
          },
        },
      },
    };
    expect(preflightProblems(staging)).toEqual([]);
    for (const args of [["--env", "staging"], ["-e", "staging"], ["--env=staging"]]) {
      expect(preflightProblems(staging, args)).toEqual([
        expect.stringMatching(/^MAIL_TRANSPORT is log/),
        expect.stringMatching(/^APP_URL is http:\/\/localhost:8787/),
        expect.stringMatching(/^RATE_LIMITS is off/),
      ]);
    }
    expect(preflightProblems(staging, ["--env", "prod"])).toEqual(
      expect.arrayContaining([expect.stringMatching(/^--env prod: wrangler.toml has no \[env.prod\]/)]),
    );
    // --var overrides what the file says, in both directions.
    expect(preflightProblems(ready, ["--var", "MAIL_TRANSPORT:log"])).toEqual([
      expect.stringMatching(/^MAIL_TRANSPORT is log/),
    ]);
    expect(preflightProblems(ready, ["--var", "RATE_LIMITS:off", "APP_URL:http://127.0.0.1:8787"])).toEqual([
      expect.stringMatching(/^APP_URL is http:\/\/127.0.0.1:8787/),
      expect.stringMatching(/^RATE_LIMITS is off/),
    ]);
    expect(preflightProblems(ready, ["--var", "WEBHOOKS_ALLOW_LOOPBACK:true", "WEBHOOK_RETRY_DELAY_SCALE:0"])).toEqual([
      expect.stringMatching(/^WEBHOOKS_ALLOW_LOOPBACK is on/),
      expect.stringMatching(/^WEBHOOK_RETRY_DELAY_SCALE shortens/),
    ]);
    expect(preflightProblems(ready, ["--var=PASSWORD_HASH_COST:low"])).toEqual([
      expect.stringMatching(/^PASSWORD_HASH_COST is low/),
    ]);
    expect(
      preflightProblems(staging, [
        "--env",
        "staging",
        "--var",
        "MAIL_TRANSPORT:resend",
        "APP_URL:https://s.example.com",
        "RATE_LIMITS:on",
      ]),
    ).toEqual([]);
  });

  it("refuses http:// origins, not only localhost ones", () => {
    const ready: WranglerToml = {
      vars: {
        MAIL_TRANSPORT: "cloudflare",
        APP_URL: "http://app.example.com",
        TOKEN_ISSUER: "https://users.example.com",
      },
    };
    expect(preflightProblems(ready)).toEqual([
      expect.stringMatching(/^APP_URL is http:\/\/app.example.com: a deployed origin is https:\/\//),
    ]);
    const cors = {
      vars: {
        ...ready.vars,
        APP_URL: "https://app.example.com",
        CORS_ALLOWED_ORIGINS: "https://a.example.com,http://b.example.com",
      },
    };
    expect(preflightProblems(cors)).toEqual([
      expect.stringMatching(/^CORS_ALLOWED_ORIGINS lists http:\/\/b.example.com/),
    ]);
  });

  it("`npm run deploy` stops with the list before calling wrangler", () => {
    const result = spawnSync("npm", ["run", "--silent", "deploy"], { encoding: "utf8" });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^npm run deploy: not deploying; wrangler.toml is not ready for production:/);
    expect(result.stderr).toContain("database_id is the placeholder");
  });
});

describe("npm start checks the configuration first", () => {
  it("a value the Worker would refuse stops it, with the message, before anything is served", () => {
    const state = mkdtempSync(join(tmpdir(), "edge-users-config-"));
    try {
      const result = spawnSync("npm", ["start", "--", "--var", "SESSION_TTL_SECONDS:1", "--persist-to", state], {
        encoding: "utf8",
        timeout: 60_000,
      });
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/npm start: the Worker would refuse this configuration/);
      expect(result.stderr).toMatch(/SESSION_TTL_SECONDS/);
      expect(result.stdout + result.stderr).not.toMatch(/Ready on/);
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  });
});
