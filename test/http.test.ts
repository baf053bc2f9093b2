import { afterEach, describe, expect, it, vi } from "vitest";
import { failingD1 } from "./helpers/bindings";
import { newUserBody, signedIn, snapshot } from "./helpers/fixtures";
import { api, apiWith, BASE, expectProblem } from "./helpers/http";

afterEach(() => vi.restoreAllMocks());

describe("every response", () => {
  it("carries a generated X-Request-Id and Server-Timing, on success and on error", async () => {
    for (const res of [await api("GET", "/health"), await api("GET", "/nope")]) {
      expect(res.headers.get("X-Request-Id")).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.headers.get("Server-Timing")).toMatch(/total;dur=[\d.]+/);
    }
  });

  it("echoes a well-formed incoming X-Request-Id, in the header and in problem bodies", async () => {
    const res = await api("GET", "/nope", { headers: { "X-Request-Id": "client-abc_123" } });
    expect(res.headers.get("X-Request-Id")).toBe("client-abc_123");
    expect(await res.json()).toMatchObject({ requestId: "client-abc_123" });
  });

  it("replaces a malformed or oversized incoming X-Request-Id", async () => {
    for (const id of ["bad id with spaces", "<script>", "x".repeat(256)]) {
      const res = await api("GET", "/health", { headers: { "X-Request-Id": id } });
      expect(res.headers.get("X-Request-Id")).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it("API responses are not cacheable unless a route says so", async () => {
    expect((await api("GET", "/api/users")).headers.get("Cache-Control")).toBe("no-store");
  });
});

describe("errors as RFC 9457 problem+json", () => {
  it("unknown route → 404", async () => {
    const body = await expectProblem(await api("GET", "/api/nothing-here"), 404, "/problems/not-found");
    expect(body.instance).toBe("/api/nothing-here");
  });

  it("a known path with a trailing slash is a different resource → 404, not 405", async () => {
    await expectProblem(await api("GET", "/health/"), 404, "/problems/not-found");
    await expectProblem(await api("GET", "/api/users/"), 404, "/problems/not-found");
  });

  it("wrong method → 405 with Allow", async () => {
    const res = await api("PUT", "/api/users/some-id", { body: {} });
    await expectProblem(res, 405, "/problems/method-not-allowed");
    expect(res.headers.get("Allow")).toBe("DELETE, GET, HEAD, PATCH");
    const collection = await api("DELETE", "/api/users");
    await expectProblem(collection, 405, "/problems/method-not-allowed");
    expect(collection.headers.get("Allow")).toBe("GET, HEAD, POST");
  });

  it("a body that is not JSON → 415, nothing written", async () => {
    const before = await snapshot();
    const res = await api("POST", "/api/users", {
      body: "email=a@example.com",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    await expectProblem(res, 415, "/problems/unsupported-media-type");
    await expectProblem(
      await api("POST", "/api/auth/login", { body: "{}", headers: { "Content-Type": "text/plain" } }),
      415,
      "/problems/unsupported-media-type",
    );
    expect(await snapshot()).toEqual(before);
  });

  it("a non-JSON body → 415 even on routes that take no body", async () => {
    const { token } = await signedIn("member");
    const res = await api("POST", "/api/auth/logout", {
      token,
      body: "bye",
      headers: { "Content-Type": "text/plain" },
    });
    await expectProblem(res, 415, "/problems/unsupported-media-type");
    expect((await api("GET", "/api/auth/me", { token })).status).toBe(200);
  });

  it("a JSON body with a charset parameter is accepted", async () => {
    const res = await api("POST", "/api/users", {
      body: newUserBody(),
      headers: { "Content-Type": "application/json; charset=utf-8" },
    });
    expect(res.status).toBe(201);
  });

  it.each(['{"email": ', "not json", "", "[1,2"])("malformed JSON %j → 400, nothing written", async (raw) => {
    const before = await snapshot();
    await expectProblem(await api("POST", "/api/users", { body: raw }), 400, "/problems/malformed-json");
    expect(await snapshot()).toEqual(before);
  });

  describe("a body that is not valid UTF-8 → 400, nothing written", () => {
    // `"name":"A` + ff fe c3 28 + `"`: bytes no UTF-8 decoder may accept (an invalid lead byte, a
    // lone continuation), which a lenient one turns into replacement characters.
    const withInvalidBytes = (json: string, marker: string) => {
      const [head = "", tail = ""] = json.split(marker);
      const encoder = new TextEncoder();
      return new Uint8Array([...encoder.encode(head), 0xff, 0xfe, 0xc3, 0x28, ...encoder.encode(tail)]);
    };

    it("POST /api/users", async () => {
      const before = await snapshot();
      const body = withInvalidBytes(JSON.stringify(newUserBody({ name: "A@@B" })), "@@");
      const problem = await expectProblem(await api("POST", "/api/users", { body }), 400, "/problems/malformed-json");
      expect(problem.detail).toMatch(/UTF-8/);
      expect(await snapshot()).toEqual(before);
    });

    it("PATCH /api/users/:id and POST /api/auth/login", async () => {
      const { user, token } = await signedIn("member");
      const before = await snapshot();
      const patch = withInvalidBytes(JSON.stringify({ name: "A@@B" }), "@@");
      await expectProblem(
        await api("PATCH", `/api/users/${user.id}`, { token, body: patch }),
        400,
        "/problems/malformed-json",
      );
      const login = withInvalidBytes(JSON.stringify({ email: user.email, password: "@@" }), "@@");
      await expectProblem(await api("POST", "/api/auth/login", { body: login }), 400, "/problems/malformed-json");
      expect(await snapshot()).toEqual(before);
    });

    it("valid multi-byte UTF-8 is stored as sent", async () => {
      const res = await api("POST", "/api/users", { body: newUserBody({ name: "Zoë Ørsted 李 🎉" }) });
      expect(res.status).toBe(201);
      expect(await res.json()).toMatchObject({ name: "Zoë Ørsted 李 🎉" });
    });
  });

  it.each([
    ["an array", [1, 2]],
    ["null", null],
    ["a string", "x"],
  ])("%s instead of an object → 400 validation", async (_, value) => {
    await expectProblem(await api("POST", "/api/users", { body: JSON.stringify(value) }), 400, "/problems/validation");
  });

  it("a body over 64 KiB → 413, nothing written (with and without Content-Length)", async () => {
    const before = await snapshot();
    const big = JSON.stringify(newUserBody({ name: "x".repeat(70_000) }));
    await expectProblem(await api("POST", "/api/users", { body: big }), 413, "/problems/payload-too-large");
    const streamed = new Request(`${BASE}/api/users`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: new Blob([big]).stream(),
      duplex: "half",
    } as RequestInit);
    const { exports } = await import("cloudflare:workers");
    await expectProblem(await exports.default.fetch(streamed), 413, "/problems/payload-too-large");
    expect(await snapshot()).toEqual(before);
  });

  it("a body just under 64 KiB is read (and judged by the schema, not the limit)", async () => {
    const body = JSON.stringify(newUserBody({ name: "x".repeat(60_000) }));
    const problem = await expectProblem(await api("POST", "/api/users", { body }), 400, "/problems/validation");
    expect(problem.errors).toEqual([{ path: "name", message: expect.any(String) }]);
  });

  it("an unexpected failure → 500 that leaks nothing; the log gets the details", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const res = await apiWith({ SESSION_TTL_SECONDS: "soon" }, "GET", "/api/users/x");
    const body = await expectProblem(res, 500, "/problems/internal");
    expect(body.detail).toBe("An unexpected error occurred.");
    expect(JSON.stringify(body)).not.toMatch(/SESSION_TTL|configuration|stack|at /i);
    expect(logged).toHaveBeenCalledWith(expect.stringContaining("SESSION_TTL_SECONDS"));
  });

  it("a schema bug in the database → 500, never SQL or binding names in the body", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const broken = failingD1("D1_ERROR: no such table: users: SQLITE_ERROR");
    const res = await apiWith({ DB: broken }, "GET", "/api/users/01936b2e-7c4a-7d1e-9a3b-5f0c2d8e4a61");
    const { instance: _, ...body } = await expectProblem(res, 500, "/problems/internal");
    expect(JSON.stringify(body)).not.toMatch(/SQLITE|D1|table|select|DB/);
  });

  it("the database unreachable → 503 with Retry-After, no internals, nothing written", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const before = await snapshot();
    const res = await apiWith({ DB: failingD1() }, "POST", "/api/users", { body: newUserBody() });
    const body = await expectProblem(res, 503, "/problems/unavailable");
    expect(res.headers.get("Retry-After")).toMatch(/^\d+$/);
    expect(JSON.stringify(body)).not.toMatch(/D1_|Network|select|insert/i);
    expect(await snapshot()).toEqual(before);
  });

  it("the database unreachable during authentication → 503, not 401", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { token } = await signedIn("member");
    await expectProblem(
      await apiWith({ DB: failingD1() }, "GET", "/api/auth/me", { token }),
      503,
      "/problems/unavailable",
    );
  });
});

describe("GET /problems/{name}", () => {
  it("describes each problem type the API uses", async () => {
    const res = await api("GET", "/problems/conflict");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ type: "/problems/conflict", status: 409, title: "Conflict" });
    await expectProblem(await api("GET", "/problems/unheard-of"), 404, "/problems/not-found");
  });
});
