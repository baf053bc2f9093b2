import { afterEach, describe, expect, it, vi } from "vitest";
import { rateLimitPolicies } from "../src/limits/policies";
import { api, apiWith, expectProblem, newUserBody, PASSWORD, seedUser, signedIn, snapshot } from "./helpers";

afterEach(() => vi.restoreAllMocks());

const login = (email: string, password: string, address: string) =>
  api("POST", "/api/auth/login", { body: { email, password }, headers: { "CF-Connecting-IP": address } });

async function expectLimited(res: Response, policy: string, limit: number) {
  await expectProblem(res, 429, "/problems/rate-limited");
  expect(res.headers.get("Retry-After")).toBe("60");
  expect(res.headers.get("RateLimit-Policy")).toContain(`"${policy}";q=${limit};w=60`);
  expect(res.headers.get("RateLimit")).toBe(`"${policy}";r=0;t=60`);
}

describe("sign-in", () => {
  it("per client address: the 11th attempt in a minute → 429, and it does not even hash a password", async () => {
    const users = await Promise.all(Array.from({ length: 11 }, () => seedUser()));
    const address = "198.51.100.1";
    for (const user of users.slice(0, 10))
      expect((await login(user.email, "wrong password!!", address)).status).toBe(401);
    const deriveBits = vi.spyOn(crypto.subtle, "deriveBits");
    const limited = await login(users[10]?.email as string, PASSWORD, address);
    await expectLimited(limited, "login-ip", 10);
    expect(deriveBits).not.toHaveBeenCalled();
    // Another address is not affected.
    expect((await login(users[10]?.email as string, PASSWORD, "198.51.100.2")).status).toBe(200);
  });

  it("per account: the 6th attempt on one account in a minute → 429 from any address, without hashing", async () => {
    const user = await seedUser();
    for (let i = 0; i < 5; i++) expect((await login(user.email, "wrong password!!", `192.0.2.${i}`)).status).toBe(401);
    const deriveBits = vi.spyOn(crypto.subtle, "deriveBits");
    await expectLimited(await login(user.email, PASSWORD, "192.0.2.99"), "login-account", 5);
    expect(deriveBits).not.toHaveBeenCalled();
    // Other accounts are not affected.
    const other = await seedUser();
    expect((await login(other.email, PASSWORD, "192.0.2.100")).status).toBe(200);
  });

  it("the policy is named on every sign-in response", async () => {
    const user = await seedUser();
    const res = await login(user.email, PASSWORD, "198.51.100.50");
    expect(res.headers.get("RateLimit-Policy")).toContain('"login-ip";q=10;w=60');
  });
});

describe("sign-up", () => {
  it("per client address: the 6th anonymous sign-up in a minute → 429, nothing written", async () => {
    const headers = { "CF-Connecting-IP": "203.0.113.50" };
    for (let i = 0; i < 5; i++)
      expect((await api("POST", "/api/users", { body: newUserBody(), headers })).status).toBe(201);
    const before = await snapshot();
    await expectLimited(await api("POST", "/api/users", { body: newUserBody(), headers }), "signup-ip", 5);
    expect(await snapshot()).toEqual(before);
  });

  it("admins creating users are not limited per address", async () => {
    const { token } = await signedIn("admin");
    const headers = { "CF-Connecting-IP": "203.0.113.60" };
    for (let i = 0; i < 7; i++) {
      expect((await api("POST", "/api/users", { body: newUserBody(), token, headers })).status).toBe(201);
    }
  });
});

describe("the whole API", () => {
  it(`per bearer token: request ${rateLimitPolicies.api.limit + 1} in a minute → 429`, async () => {
    const { token } = await signedIn("member");
    for (let i = 0; i < rateLimitPolicies.api.limit; i++) {
      const res = await api("GET", "/api/auth/me", { token });
      if (res.status !== 200) throw new Error(`request ${i + 1}: ${res.status}`);
    }
    await expectLimited(await api("GET", "/api/auth/me", { token }), "api", rateLimitPolicies.api.limit);
    // A different caller is unaffected.
    const { token: other } = await signedIn("member");
    expect((await api("GET", "/api/auth/me", { token: other })).status).toBe(200);
  });
});

describe("a failing rate limiter", () => {
  it("lets requests through (fail open) and logs it", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const broken = { limit: () => Promise.reject(new Error("rate limiter unavailable")) };
    const user = await seedUser();
    const res = await apiWith(
      { LOGIN_IP_LIMITER: broken, LOGIN_ACCOUNT_LIMITER: broken, API_LIMITER: broken },
      "POST",
      "/api/auth/login",
      {
        body: { email: user.email, password: PASSWORD },
      },
    );
    expect(res.status).toBe(200);
    expect(warn.mock.calls.map(([line]) => JSON.parse(line as string))).toContainEqual(
      expect.objectContaining({ message: "rate limiter failed; letting the request through", policy: "login-ip" }),
    );
  });

  it("one that does not answer is given up on after its timeout", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const hanging = { limit: () => new Promise(() => {}) };
    const res = await apiWith({ API_LIMITER: hanging }, "GET", "/api/users/01936b2e-7c4a-7d1e-9a3b-5f0c2d8e4a61");
    expect(res.status).toBe(404);
  });
});
