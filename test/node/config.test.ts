import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
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
