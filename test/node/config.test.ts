import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
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
