import { afterEach, describe, expect, it, vi } from "vitest";
import { DatabaseError, isDatabaseUnavailable } from "../src/db/errors";
import { seedUser } from "./helpers/fixtures";
import { apiWith, expectProblem, libsqlApiWith } from "./helpers/http";

afterEach(() => vi.restoreAllMocks());

function named(name: string, message: string, cause?: unknown): Error {
  const error = new Error(message, { cause });
  error.name = name;
  return error;
}

describe("which database failures are worth a retry (503) and which are not (500)", () => {
  it.each([
    ["an unreachable Turso behind our seam", new DatabaseError(new TypeError("fetch failed")), true],
    ["D1 losing its connection", new Error("D1_ERROR: Network connection lost."), true],
    ["libSQL busy inside a batch", named("LibsqlBatchError", "SQLITE_BUSY: database is locked"), true],
    [
      "a libSQL error through Drizzle",
      new Error("Failed query: select 1", { cause: named("LibsqlError", "SERVER_ERROR: 502") }),
      true,
    ],
    [
      "a unique violation",
      new DatabaseError(named("LibsqlError", "SQLITE_CONSTRAINT_UNIQUE: UNIQUE constraint failed: users.email")),
      false,
    ],
    ["a missing table", new DatabaseError(new Error("D1_ERROR: no such table: users: SQLITE_ERROR")), false],
    [
      "a wrong Turso token",
      new DatabaseError(named("LibsqlError", "SERVER_ERROR: Server returned HTTP status 401")),
      false,
    ],
    ["a file: URL on Workers", new DatabaseError(named("LibsqlError", "URL_SCHEME_NOT_SUPPORTED: file")), false],
    ["anything that is not the database", new TypeError("fetch failed"), false],
  ])("%s → unavailable: %s", (_, error, unavailable) => {
    expect(isDatabaseUnavailable(error)).toBe(unavailable);
  });
});

describe("the libSQL build (src/index.libsql.ts) reaches LIBSQL_URL through the web client", () => {
  it("an unreachable libSQL server: /ready names the database, reads answer 503 (not D1's data)", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    vi.spyOn(console, "error").mockImplementation(() => {});
    // The network is the one thing stood in for: every connection to the server fails, as it does
    // when the host is down. (A real closed port works too, but workerd then logs the refused
    // connection's stream as an uncaught exception in a green run.)
    const unreachable = vi
      .spyOn(globalThis, "fetch")
      .mockImplementation(() => Promise.reject(new TypeError("fetch failed: connection refused")));
    const user = await seedUser(); // in D1: a read served from D1 would find it
    const libsql = { LIBSQL_URL: "http://127.0.0.1:9", CACHE_ENABLED: "false" };
    const ready = await libsqlApiWith(libsql, "GET", "/ready");
    expect(((await ready.json()) as { checks: { database: { status: string } } }).checks.database.status).toBe(
      "failed",
    );
    const read = await libsqlApiWith(libsql, "GET", `/api/users/${user.id}`);
    await expectProblem(read, 503, "/problems/unavailable");
    expect(read.headers.get("Retry-After")).toMatch(/^\d+$/);
    // Both went to the libSQL server named by LIBSQL_URL, through the web client's fetch.
    const urls = unreachable.mock.calls.map(([request]) => new Request(request as RequestInfo).url);
    expect(urls.length).toBeGreaterThanOrEqual(2);
    for (const url of urls) expect(url).toMatch(/^http:\/\/127\.0\.0\.1:9\//);
  });

  it("a file: URL on Workers is a configuration error (500), never silently D1", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const res = await libsqlApiWith(
      { LIBSQL_URL: "file:local.db" },
      "GET",
      "/api/users/01936b2e-7c4a-7d1e-9a3b-5f0c2d8e4a61",
    );
    await expectProblem(res, 500, "/problems/internal");
  });

  it("without LIBSQL_URL (or a client) it is a configuration error (500), never silently D1", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const res = await libsqlApiWith({}, "GET", "/api/users/01936b2e-7c4a-7d1e-9a3b-5f0c2d8e4a61");
    await expectProblem(res, 500, "/problems/internal");
  });

  it("the D1 build refuses a LIBSQL_URL (500) rather than serve D1's data while libSQL was meant", async () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const user = await seedUser();
    const res = await apiWith({ LIBSQL_URL: "libsql://db.example.turso.io" }, "GET", `/api/users/${user.id}`);
    await expectProblem(res, 500, "/problems/internal");
    expect(error.mock.calls.flat().join(" ")).toMatch(/LIBSQL_URL is set, but this is the D1 build/);
  });

  it("a libSQL client that never answers → 503 after DB_TIMEOUT_MS", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const never = () => new Promise(() => {});
    const hanging = { execute: never, batch: never, protocol: "http", closed: false };
    const res = await libsqlApiWith(
      { LIBSQL_CLIENT: hanging, DB_TIMEOUT_MS: "100", CACHE_ENABLED: "false" },
      "GET",
      "/api/users/01936b2e-7c4a-7d1e-9a3b-5f0c2d8e4a61",
    );
    await expectProblem(res, 503, "/problems/unavailable");
  });
});
