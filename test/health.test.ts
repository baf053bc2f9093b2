import { afterEach, describe, expect, it, vi } from "vitest";
import { failingD1, failingKV } from "./helpers/bindings";
import { api, apiWith, expectProblem } from "./helpers/http";

afterEach(() => vi.restoreAllMocks());

describe("GET /health", () => {
  it("→ 200 ok, touching no dependency", async () => {
    const res = await apiWith({ DB: failingD1(), CACHE: failingKV() }, "GET", "/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });
});

describe("GET /ready", () => {
  it("→ 200 when the database and the cache answer, with each check's duration", async () => {
    const res = await api("GET", "/ready");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: "ready",
      checks: {
        database: { status: "ok", durationMs: expect.any(Number) },
        cache: { status: "ok", durationMs: expect.any(Number) },
      },
    });
  });

  it("database down → 503 problem naming the database check, with Retry-After and no internals", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const res = await apiWith({ DB: failingD1() }, "GET", "/ready");
    const body = await expectProblem(res, 503, "/problems/unavailable");
    expect(res.headers.get("Retry-After")).toMatch(/^\d+$/);
    expect(body.detail).toBe("Not ready: database check failed.");
    expect(body.checks).toEqual({
      database: { status: "failed", durationMs: expect.any(Number), error: "error" },
      cache: { status: "ok", durationMs: expect.any(Number) },
    });
    expect(JSON.stringify(body)).not.toMatch(/D1_|Network|DB/);
  });

  it("cache down → 503 naming the cache check", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const body = await expectProblem(
      await apiWith({ CACHE: failingKV() }, "GET", "/ready"),
      503,
      "/problems/unavailable",
    );
    expect(body.detail).toBe("Not ready: cache check failed.");
    expect(JSON.stringify(body)).not.toMatch(/KV|CACHE|Service Unavailable/);
  });

  it("a dependency that hangs → 503 'timeout' within the check's time limit", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const hanging = { get: () => new Promise(() => {}) } as unknown as KVNamespace;
    const body = await expectProblem(await apiWith({ CACHE: hanging }, "GET", "/ready"), 503, "/problems/unavailable");
    expect(body.checks).toMatchObject({ cache: { status: "failed", error: "timeout" } });
  });

  it("logs which check failed and why, for operators", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    await apiWith({ DB: failingD1() }, "GET", "/ready");
    const line = JSON.parse(warn.mock.calls[0]?.[0] as string);
    expect(line).toMatchObject({ level: "warn", check: "database", error: "D1_ERROR: Network connection lost." });
  });
});
