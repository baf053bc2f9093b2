import { afterEach, describe, expect, it, vi } from "vitest";
import { seedUser, signedIn } from "./helpers/fixtures";
import { api, apiWith, expectProblem } from "./helpers/http";

afterEach(() => vi.restoreAllMocks());

describe("security headers", () => {
  it("every API response: no framing, no sniffing, no referrer, HSTS, a CSP that allows nothing", async () => {
    const user = await seedUser();
    for (const res of [
      await api("GET", `/api/users/${user.id}`),
      await api("GET", "/nope"),
      await api("GET", "/health"),
    ]) {
      expect(res.headers.get("Content-Security-Policy")).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
      expect(res.headers.get("X-Frame-Options")).toBe("DENY");
      expect(res.headers.get("Referrer-Policy")).toBe("no-referrer");
      expect(res.headers.get("Strict-Transport-Security")).toBe("max-age=63072000; includeSubDomains");
    }
  });

  it("the docs page loads scripts and data from this origin only, with no inline script", async () => {
    const res = await api("GET", "/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Security-Policy")).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
  });
});

describe("CORS", () => {
  it("is off by default: no Access-Control headers, and a preflight is not answered", async () => {
    const headers = { Origin: "https://app.example.com" };
    const res = await api("GET", "/health", { headers });
    expect(res.headers.get("Access-Control-Allow-Origin")).toBeNull();
    const preflight = await api("OPTIONS", "/api/users", {
      headers: { ...headers, "Access-Control-Request-Method": "POST" },
    });
    expect(preflight.headers.get("Access-Control-Allow-Origin")).toBeNull();
    expect(preflight.status).toBe(405);
  });

  const allowed = { CORS_ALLOWED_ORIGINS: "https://app.example.com, https://admin.example.com/" };

  it("an allowed origin gets its own origin back (never *), exposed headers, and no credentials", async () => {
    const { user, token } = await signedIn("member");
    const res = await apiWith(allowed, "GET", `/api/users/${user.id}`, {
      token,
      headers: { Origin: "https://admin.example.com" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("Access-Control-Allow-Origin")).toBe("https://admin.example.com");
    expect(res.headers.get("Access-Control-Allow-Credentials")).toBeNull();
    expect(res.headers.get("Access-Control-Expose-Headers")).toContain("ETag");
    expect(res.headers.get("Vary")).toContain("Origin");
  });

  it("a preflight from an allowed origin → 204 naming the methods and headers a client may send", async () => {
    const res = await apiWith(allowed, "OPTIONS", "/api/users", {
      headers: {
        Origin: "https://app.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, idempotency-key",
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("Access-Control-Allow-Origin")).toBe("https://app.example.com");
    expect(res.headers.get("Access-Control-Allow-Methods")).toContain("PATCH");
    expect(res.headers.get("Access-Control-Allow-Headers")).toContain("Idempotency-Key");
  });

  it("an origin not on the list gets no Access-Control headers", async () => {
    const res = await apiWith(allowed, "GET", "/health", { headers: { Origin: "https://evil.example" } });
    expect(res.headers.get("Access-Control-Allow-Origin")).toBeNull();
  });

  it("* is refused as configuration (500 with a logged reason), never served", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const res = await apiWith({ CORS_ALLOWED_ORIGINS: "*" }, "GET", "/health", {
      headers: { Origin: "https://x.example" },
    });
    await expectProblem(res, 500, "/problems/internal");
    expect(res.headers.get("Access-Control-Allow-Origin")).toBeNull();
  });
});
