/**
 * `npm run analytics` offline: the SQL it builds, and how it renders the SQL API's answers. The
 * answers are fixtures in the API's `FORMAT JSON` shape; the network call itself cannot run here.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { type Fetch, renderTable, runReport } from "../../scripts/lib/analytics";
import { analyticsQueries } from "../../scripts/lib/analytics-queries";

const fixture = (name: string) => readFileSync(new URL(`./fixtures/analytics/${name}.json`, import.meta.url), "utf8");

/** A stand-in for the SQL API: answers each query with its fixture and remembers the requests. */
function replay() {
  const requests: { url: string; init: RequestInit }[] = [];
  const fetch: Fetch = async (url, init) => {
    requests.push({ url, init });
    const name = analyticsQueries("edge_users", { hours: 1 }).find((query) =>
      String(init.body).startsWith(query.sql),
    )?.name;
    return name ? new Response(fixture(name)) : new Response('{"errors":["unknown query"]}', { status: 400 });
  };
  return { fetch, requests };
}

describe("analytics queries", () => {
  it("cover request rate, error rate, latency percentiles by route, cache hit ratio and failed sign-ins", () => {
    const names = analyticsQueries("edge_users", { hours: 1 }).map((query) => query.name);
    expect(names).toEqual([
      "request-rate",
      "error-rate",
      "latency-by-route",
      "cache-hit-ratio",
      "failed-logins",
      "failed-login-sources",
      "security-events",
    ]);
  });

  it("weight every count and percentile by _sample_interval, over the chosen window", () => {
    const queries = analyticsQueries("edge_users", { hours: 24 });
    for (const query of queries) {
      expect(query.sql).toContain("FROM edge_users");
      expect(query.sql).toContain("_sample_interval");
      expect(query.sql).toContain("INTERVAL '24' HOUR");
      expect(query.sql).not.toMatch(/count\(\)/i);
    }
    const latency = queries.find((query) => query.name === "latency-by-route")?.sql;
    expect(latency).toContain("quantileExactWeighted(0.99, double2, _sample_interval)");
    expect(latency).toContain("blob3 AS route");
  });

  it("refuse a dataset name or a window that would not be safe SQL", () => {
    expect(() => analyticsQueries("edge_users; DROP", { hours: 1 })).toThrow(/dataset/);
    expect(() => analyticsQueries("edge_users", { hours: 0 })).toThrow(/window/);
    expect(() => analyticsQueries("edge_users", { hours: Number.NaN })).toThrow(/window/);
  });
});

describe("npm run analytics, replayed", () => {
  it("posts each query to the account's SQL API with the bearer token and prints readable tables", async () => {
    const api = replay();
    const report = await runReport({
      dataset: "edge_users",
      window: { hours: 1 },
      accountId: "0123456789abcdef0123456789abcdef",
      apiToken: "test-token",
      fetch: api.fetch,
    });
    expect(api.requests).toHaveLength(7);
    expect(api.requests[0]?.url).toBe(
      "https://api.cloudflare.com/client/v4/accounts/0123456789abcdef0123456789abcdef/analytics_engine/sql",
    );
    expect(api.requests[0]?.init).toMatchObject({ method: "POST", headers: { Authorization: "Bearer test-token" } });
    expect(String(api.requests[0]?.init.body)).toMatch(/FORMAT JSON$/);
    expect(report).toContain("Latency by route (ms)");
    expect(report).toMatch(/\/api\/users\/:id\s+2,980\s+1\.20\s+4\.80\s+19\.50/);
    expect(report).toMatch(/server_error_rate.*\n.*\n.*0\.2%\s+4\.2%/);
    expect(report).toContain("203.0.113.7");
    expect(report).toContain("(no data in this window)");
  });

  it("one query by name", async () => {
    const api = replay();
    const report = await runReport({
      dataset: "edge_users",
      window: { hours: 1 },
      only: "security-events",
      accountId: "a",
      apiToken: "t",
      fetch: api.fetch,
    });
    expect(api.requests).toHaveLength(1);
    expect(report).toMatch(/login_failed\s+1,200/);
  });

  it("an API error is reported with its status, not rendered as data", async () => {
    const failing: Fetch = async () => new Response('{"errors":[{"message":"Authentication error"}]}', { status: 403 });
    await expect(
      runReport({ dataset: "edge_users", window: { hours: 1 }, accountId: "a", apiToken: "bad", fetch: failing }),
    ).rejects.toThrow(/answered 403: .*Authentication error/);
  });
});

describe("renderTable", () => {
  it("aligns columns, right-aligns numbers (quoted 64-bit integers included), shows ratios as percentages", () => {
    const table = renderTable({
      meta: [
        { name: "route", type: "String" },
        { name: "requests", type: "UInt64" },
        { name: "miss_ratio", type: "Float64" },
      ],
      data: [
        { route: "/a", requests: "12345", miss_ratio: 0.5 },
        { route: "/longer/route", requests: "7", miss_ratio: 0.123 },
      ],
    });
    expect(table.split("\n")).toEqual([
      "  route          requests  miss_ratio",
      "  -------------  --------  ----------",
      "  /a               12,345       50.0%",
      "  /longer/route         7       12.3%",
    ]);
  });
});

describe("the npm run analytics command", () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync("npm", ["run", "--silent", "analytics", "--", ...args], {
      encoding: "utf8",
      env: { ...process.env, CLOUDFLARE_ACCOUNT_ID: "", CLOUDFLARE_API_TOKEN: "", ...env },
      timeout: 60_000,
    });

  it("--help prints the usage with every query's name; an unknown option is the usage, not a stack", () => {
    const help = run(["--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("Usage: npm run analytics");
    expect(help.stdout).toContain("latency-by-route");
    const unknown = run(["--hour", "3"]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/^analytics: Unknown option '--hour'/);
    expect(unknown.stderr).not.toMatch(/\n\s+at /);
  });

  it("refuses an unknown --query or a bad --hours before asking for credentials", () => {
    const query = run(["--query", "latency"]);
    expect(query.status).toBe(2);
    expect(query.stderr).toMatch(/no query named latency; the queries: request-rate, /);
    expect(run(["--hours", "0"]).stderr).toMatch(/--hours must be a whole number/);
  });

  it("without credentials names them and the offline --print-sql; --print-sql --query prints that one", () => {
    const none = run([]);
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN.*--print-sql/);
    const sql = run(["--print-sql", "--query", "error-rate"]);
    expect(sql.status).toBe(0);
    expect(sql.stdout.match(/^-- /gm)).toHaveLength(1);
  });

  it("a request that cannot be made shows why (the fetch's cause), not just 'fetch failed'", () => {
    // No network here: the lookup fails. With network, Cloudflare refuses the made-up token.
    const failed = run(["--query", "error-rate"], { CLOUDFLARE_ACCOUNT_ID: "0", CLOUDFLARE_API_TOKEN: "made-up" });
    expect(failed.status).toBe(1);
    expect(failed.stderr).toMatch(/^analytics: (fetch failed: \S.+|error-rate: the SQL API answered 4\d\d)/);
  });
});
