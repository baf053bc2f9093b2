import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sanitize } from "../src/lib/log";
import { hashToken } from "../src/lib/tokens";
import { newUserBody, PASSWORD, seedUser, signedIn } from "./helpers/fixtures";
import { apiWith } from "./helpers/http";

afterEach(() => vi.restoreAllMocks());

/** Every line the Worker logs during `run`, parsed (all levels). */
async function captureLogs(run: () => unknown) {
  const lines: string[] = [];
  for (const method of ["log", "warn", "error", "debug"] as const) {
    vi.spyOn(console, method).mockImplementation((line: unknown) => void lines.push(String(line)));
  }
  await run();
  vi.restoreAllMocks();
  return lines;
}

const requestLines = (lines: string[]) =>
  lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.message === "request");

/** An Analytics Engine binding that keeps what it is given. */
function capturingAnalytics() {
  const points: AnalyticsEngineDataPoint[] = [];
  return { points, binding: { writeDataPoint: (point: AnalyticsEngineDataPoint) => void points.push(point) } };
}

describe("one structured log line per request", () => {
  it("success: time, request id, method, route pattern (not the raw path), status, duration, cache, db, colo, country, user", async () => {
    const { user, token } = await signedIn("member");
    const lines = await captureLogs(() =>
      apiWith({}, "GET", `/api/users/${user.id}`, { token, headers: { "X-Request-Id": "trace-1" } }),
    );
    const [line] = requestLines(lines);
    expect(requestLines(lines)).toHaveLength(1);
    expect(line).toEqual({
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      level: "info",
      message: "request",
      requestId: "trace-1",
      method: "GET",
      route: "/api/users/:id",
      status: 200,
      durationMs: expect.any(Number),
      cache: expect.stringMatching(/^(miss|hit-kv|hit-memory)$/),
      dbMs: expect.any(Number),
      dbQueries: expect.any(Number),
      kvMs: expect.any(Number),
      kvOperations: expect.any(Number),
      colo: expect.any(String),
      country: expect.any(String),
      userId: user.id,
    });
    expect(JSON.stringify(line)).not.toContain(`/api/users/${user.id}`);
  });

  it("colo and country come from request.cf", async () => {
    const { default: worker } = await import("../src/index");
    const { createExecutionContext } = await import("cloudflare:test");
    const lines = await captureLogs(() =>
      worker.fetch(
        new Request("http://x/health", { cf: { colo: "AMS", country: "NL" } } as RequestInit),
        env,
        createExecutionContext(),
      ),
    );
    expect(requestLines(lines)[0]).toMatchObject({ colo: "AMS", country: "NL", route: "/health", userId: "" });
  });

  it("4xx: a warn line with the status; unknown routes are 'unmatched'", async () => {
    const lines = await captureLogs(async () => {
      await apiWith({}, "GET", "/api/users");
      await apiWith({}, "GET", "/no/such/route");
    });
    expect(requestLines(lines)).toEqual([
      expect.objectContaining({ level: "warn", status: 401, route: "/api/users" }),
      expect.objectContaining({ level: "warn", status: 404, route: "unmatched" }),
    ]);
  });

  it("5xx: an error line with the error and its stack; the response has neither", async () => {
    let body = "";
    const lines = await captureLogs(async () => {
      body = await (await apiWith({ SESSION_TTL_SECONDS: "soon" }, "GET", "/health")).text();
    });
    const [line] = requestLines(lines);
    expect(line).toMatchObject({ level: "error", status: 500, error: expect.stringContaining("SESSION_TTL_SECONDS") });
    expect(line?.stack).toMatch(/Error: Invalid configuration/);
    expect(body).not.toMatch(/SESSION_TTL_SECONDS|stack|Invalid configuration/);
  });

  it("a deliberate 503 (not ready) logs its reason without a stack", async () => {
    const { failingD1 } = await import("./helpers/bindings");
    const lines = await captureLogs(() => apiWith({ DB: failingD1() }, "GET", "/ready"));
    const line = requestLines(lines)[0];
    expect(line).toMatchObject({ level: "error", status: 503, error: "Not ready: database check failed." });
    expect(line).not.toHaveProperty("stack");
  });

  it("LOG_LEVEL=warn drops the info lines; debug is off by default", async () => {
    const lines = await captureLogs(async () => {
      await apiWith({ LOG_LEVEL: "warn" }, "GET", "/health");
      await apiWith({ LOG_LEVEL: "warn" }, "GET", "/nope");
    });
    expect(requestLines(lines).map((line) => line.status)).toEqual([404]);
    const defaults = await captureLogs(() => apiWith({}, "GET", "/health"));
    expect(defaults.map((line) => JSON.parse(line).level)).not.toContain("debug");
  });

  it("LOG_LEVEL=debug adds the cache's fills and purges", async () => {
    const user = await seedUser();
    const lines = await captureLogs(() => apiWith({ LOG_LEVEL: "debug" }, "GET", `/api/users/${user.id}`));
    expect(lines.map((line) => JSON.parse(line))).toContainEqual(
      expect.objectContaining({ level: "debug", message: "cache filled", key: "user:…" }),
    );
  });

  it("redaction reaches nested fields and masks emails and bearer tokens anywhere", () => {
    expect(
      sanitize({
        context: { password: "p", list: [{ token: "t" }, "mail ann@example.com"], header: "Bearer abc.def" },
        passwordHash: "x",
      }),
    ).toEqual({
      context: { password: "[redacted]", list: [{ token: "[redacted]" }, "mail [email]"], header: "Bearer [redacted]" },
      passwordHash: "[redacted]",
    });
  });

  it("LOG_FORMAT=pretty (npm start) prints a readable line and the data points", async () => {
    const lines = await captureLogs(() => apiWith({ LOG_FORMAT: "pretty" }, "GET", "/health"));
    expect(lines[0]).toMatch(/INFO .*GET \/health 200 [\d.]+ms/);
    expect(lines.join("\n")).toMatch(/↳ analytics .*indexes=\["\/health"\]/);
  });
});

describe("no secret ever reaches the logs", () => {
  it("across create, login (good and bad), patch with a password change, and authenticated reads", async () => {
    const body = newUserBody();
    const secrets: string[] = [PASSWORD, body.email, "a completely new passphrase"];
    const lines = await captureLogs(async () => {
      const created = await apiWith({ LOG_LEVEL: "debug" }, "POST", "/api/users", { body });
      const { id } = (await created.json()) as { id: string };
      await apiWith({ LOG_LEVEL: "debug" }, "POST", "/api/auth/login", {
        body: { email: body.email, password: "wrong password!!" },
      });
      const login = await apiWith({ LOG_LEVEL: "debug" }, "POST", "/api/auth/login", {
        body: { email: body.email, password: PASSWORD },
      });
      const { token } = (await login.json()) as { token: string };
      secrets.push(token, await hashToken(token), `Bearer ${token}`);
      await apiWith({ LOG_LEVEL: "debug" }, "PATCH", `/api/users/${id}`, {
        token,
        body: { password: "a completely new passphrase", currentPassword: PASSWORD, email: `x${body.email}` },
      });
      await apiWith({ LOG_LEVEL: "debug" }, "GET", "/api/auth/me", { token });
      const row = await env.DB.prepare("select password_hash from users where id = ?")
        .bind(id)
        .first<{ password_hash: string }>();
      secrets.push(row?.password_hash as string, ...(row?.password_hash.split("$").slice(3) ?? []));
    });
    expect(requestLines(lines).length).toBeGreaterThanOrEqual(5);
    const everything = lines.join("\n");
    for (const secret of secrets) expect(everything).not.toContain(secret);
    expect(everything).not.toMatch(/@example\.com|authorization/i);
  });

  it("a failing database's error never carries the query parameters into the log", async () => {
    const { failingD1 } = await import("./helpers/bindings");
    const body = newUserBody();
    const lines = await captureLogs(() => apiWith({ DB: failingD1() }, "POST", "/api/users", { body }));
    expect(lines.join("\n")).not.toContain(body.email);
    expect(requestLines(lines)[0]).toMatchObject({ status: 503, error: "D1_ERROR: Network connection lost." });
  });
});

describe("Analytics Engine data points", () => {
  it("one per request, with the documented columns", async () => {
    const { user, token } = await signedIn("member");
    const analytics = capturingAnalytics();
    await captureLogs(() => apiWith({ ANALYTICS: analytics.binding }, "GET", `/api/users/${user.id}`, { token }));
    expect(analytics.points).toEqual([
      {
        indexes: ["/api/users/:id"],
        blobs: [
          "request",
          "GET",
          "/api/users/:id",
          expect.any(String),
          expect.any(String),
          expect.any(String),
          expect.any(String),
          user.id,
          "",
        ],
        doubles: [
          200,
          expect.any(Number),
          expect.any(Number),
          expect.any(Number),
          expect.any(Number),
          expect.any(Number),
        ],
      },
    ]);
  });

  it("a failed login is also a security event, with the client address", async () => {
    const user = await seedUser();
    const analytics = capturingAnalytics();
    await captureLogs(() =>
      apiWith({ ANALYTICS: analytics.binding }, "POST", "/api/auth/login", {
        body: { email: user.email, password: "wrong password!!" },
        headers: { "CF-Connecting-IP": "203.0.113.7" },
      }),
    );
    expect(analytics.points.map((point) => point.blobs?.[0])).toEqual(["request", "login_failed"]);
    expect(analytics.points[1]).toMatchObject({
      indexes: ["security:login_failed"],
      doubles: [
        401,
        expect.any(Number),
        expect.any(Number),
        expect.any(Number),
        expect.any(Number),
        expect.any(Number),
      ],
    });
    expect(analytics.points[1]?.blobs?.[8]).toBe("203.0.113.7");
    expect(analytics.points[0]?.blobs?.[8]).toBe("");
    expect(JSON.stringify(analytics.points)).not.toContain(user.email);
  });

  it("a wrong currentPassword is a security event like a failed sign-in, with the client address", async () => {
    const { user, token } = await signedIn("member");
    const analytics = capturingAnalytics();
    const lines = await captureLogs(() =>
      apiWith({ ANALYTICS: analytics.binding }, "PATCH", `/api/users/${user.id}`, {
        token,
        body: { password: "a brand new passphrase", currentPassword: "a wrong guess!!" },
        headers: { "CF-Connecting-IP": "203.0.113.8" },
      }),
    );
    expect(analytics.points.map((point) => point.blobs?.[0])).toEqual(["request", "password_check_failed"]);
    expect(analytics.points[1]).toMatchObject({ indexes: ["security:password_check_failed"] });
    expect(analytics.points[1]?.blobs?.[7]).toBe(user.id);
    expect(analytics.points[1]?.blobs?.[8]).toBe("203.0.113.8");
    expect(lines.map((line) => JSON.parse(line))).toContainEqual(
      expect.objectContaining({ message: "request", status: 422, securityEvent: "password_check_failed" }),
    );
  });

  it("the account lifecycle's requests and refusals are security events", async () => {
    const { user, token } = await signedIn("member");
    const analytics = capturingAnalytics();
    const send = (method: string, path: string, options: Parameters<typeof apiWith>[3] = {}) =>
      captureLogs(() => apiWith({ ANALYTICS: analytics.binding }, method, path, options));
    await send("POST", "/api/auth/password-reset", { body: { email: "nobody@example.com" } });
    await send("POST", "/api/auth/email-verification", { token });
    await send("POST", "/api/auth/email-verification/confirm", { body: { token: "A".repeat(43) } });
    await send("POST", "/api/auth/password-reset/confirm", { body: { token: "A".repeat(43), password: PASSWORD } });
    await send("POST", "/api/auth/login", { body: { email: user.email, password: PASSWORD } });
    const strict = capturingAnalytics();
    await captureLogs(() =>
      apiWith({ ANALYTICS: strict.binding, REQUIRE_EMAIL_VERIFICATION: "true" }, "POST", "/api/auth/login", {
        body: { email: user.email, password: PASSWORD },
      }),
    );
    const events = [...analytics.points, ...strict.points]
      .map((point) => point.indexes?.[0])
      .filter((index) => String(index).startsWith("security:"));
    expect(events).toEqual([
      "security:password_reset_requested",
      "security:verification_requested",
      "security:invalid_link_token",
      "security:invalid_link_token",
      "security:email_not_verified",
    ]);
    expect(JSON.stringify(analytics.points)).not.toContain("nobody@example.com");
  });

  it("a forbidden access is a security event", async () => {
    const { token } = await signedIn("member");
    const analytics = capturingAnalytics();
    await captureLogs(() => apiWith({ ANALYTICS: analytics.binding }, "GET", "/api/users", { token }));
    expect(analytics.points.map((point) => point.blobs?.[0])).toEqual(["request", "forbidden"]);
  });

  it("a binding that throws does not break the request; the failure is logged", async () => {
    const throwing = {
      writeDataPoint: () => {
        throw new Error("analytics unavailable");
      },
    };
    let status = 0;
    const lines = await captureLogs(async () => {
      status = (await apiWith({ ANALYTICS: throwing }, "GET", "/health")).status;
    });
    expect(status).toBe(200);
    expect(lines.map((line) => JSON.parse(line))).toContainEqual(
      expect.objectContaining({ level: "warn", message: "analytics data point not written" }),
    );
  });

  it("no binding configured: requests still work", async () => {
    expect((await apiWith({ ANALYTICS: undefined }, "GET", "/health")).status).toBe(200);
  });
});
