import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Bindings } from "../src/config";
import worker from "../src/index";
import { clientAddressKey } from "../src/lib/client-address";
import { keyDerivation } from "../src/lib/password";
import { rateLimitPolicies } from "../src/limits/policies";
import { newUserBody, PASSWORD, seedUser, signedIn, snapshot } from "./helpers/fixtures";
import { api, apiWith, expectProblem } from "./helpers/http";

afterEach(() => vi.restoreAllMocks());

const login = (email: string, password: string, address: string) =>
  api("POST", "/api/auth/login", { body: { email, password }, headers: { "CF-Connecting-IP": address } });

/**
 * Sends until the first 429. Windows are fixed minutes, so a run that crosses a minute boundary
 * gets one fresh window: the limit must allow at least `limit` requests and refuse within 2×limit+1.
 */
async function firstLimited(send: (i: number) => Promise<Response>, limit: number) {
  for (let i = 0; i <= 2 * limit; i++) {
    const res = await send(i);
    if (res.status === 429) return { res, allowed: i };
    if (res.status >= 500) throw new Error(`request ${i + 1}: ${res.status}`);
  }
  throw new Error(`no 429 within ${2 * limit + 1} requests`);
}

async function expectLimited(res: Response, policy: string, limit: number) {
  await expectProblem(res, 429, "/problems/rate-limited");
  expect(res.headers.get("Retry-After")).toBe("60");
  expect(res.headers.get("RateLimit-Policy")).toContain(`"${policy}";q=${limit};w=60`);
  expect(res.headers.get("RateLimit")).toBe(`"${policy}";r=0;t=60`);
}

describe("sign-in", () => {
  it("per client address: over 10 attempts a minute → 429, and a limited attempt does not hash a password", async () => {
    const users = await Promise.all(Array.from({ length: 21 }, () => seedUser()));
    const address = "198.51.100.1";
    const { res, allowed } = await firstLimited(
      (i) => login(users[i]?.email as string, "wrong password!!", address),
      10,
    );
    expect(allowed).toBeGreaterThanOrEqual(10);
    await expectLimited(res, "login-ip", 10);
    const derive = vi.spyOn(keyDerivation, "scrypt");
    const again = await login(users[20]?.email as string, PASSWORD, address);
    if (again.status === 429) expect(derive).not.toHaveBeenCalled();
    // Another address is not affected.
    expect((await login(users[20]?.email as string, PASSWORD, "198.51.100.2")).status).toBe(200);
  });

  it("per account: over 5 attempts a minute on one account → 429 from any address, without hashing", async () => {
    const user = await seedUser();
    const { res, allowed } = await firstLimited((i) => login(user.email, "wrong password!!", `192.0.2.${i}`), 5);
    expect(allowed).toBeGreaterThanOrEqual(5);
    await expectLimited(res, "password-account", 5);
    const derive = vi.spyOn(keyDerivation, "scrypt");
    const again = await login(user.email, PASSWORD, "192.0.2.99");
    if (again.status === 429) expect(derive).not.toHaveBeenCalled();
    const other = await seedUser();
    expect((await login(other.email, PASSWORD, "192.0.2.100")).status).toBe(200);
  });

  it("the policy is named on a sign-in answer", async () => {
    const user = await seedUser();
    const res = await login(user.email, PASSWORD, "198.51.100.50");
    expect(res.headers.get("RateLimit-Policy")).toContain('"login-ip";q=10;w=60');
  });
});

describe("password checks outside sign-in", () => {
  const changePassword = (id: string, token: string, currentPassword: string) =>
    api("PATCH", `/api/users/${id}`, { token, body: { password: "a brand new passphrase", currentPassword } });

  it("a wrong currentPassword spends the account's password budget: the 6th try in a minute → 429", async () => {
    const { user, token } = await signedIn("member");
    const { res, allowed } = await firstLimited((i) => changePassword(user.id, token, `guess number ${i}`), 5);
    expect(allowed).toBeGreaterThanOrEqual(5);
    await expectLimited(res, "password-account", 5);
    // The right password is refused too while the budget is spent, and nothing changes.
    const before = await snapshot();
    const right = await changePassword(user.id, token, PASSWORD);
    if (right.status === 429) expect(await snapshot()).toEqual(before);
    // ... and so is sign-in: one budget per account.
    expect((await login(user.email, PASSWORD, "192.0.2.200")).status).toBe(429);
  });

  it("failed sign-ins spend the same budget a password change then meets", async () => {
    const { user, token } = await signedIn("member");
    await firstLimited((i) => login(user.email, "wrong password!!", `192.0.2.${100 + i}`), 5);
    const before = await snapshot();
    const res = await changePassword(user.id, token, PASSWORD);
    await expectLimited(res, "password-account", 5);
    expect(await snapshot()).toEqual(before);
  });
});

describe("sign-up", () => {
  it("per client address: over 5 a minute → 429, and the refused one writes nothing", async () => {
    const headers = { "CF-Connecting-IP": "203.0.113.50" };
    let before = await snapshot();
    const { res, allowed } = await firstLimited(async () => {
      before = await snapshot();
      return api("POST", "/api/users", { body: newUserBody(), headers });
    }, 5);
    expect(allowed).toBeGreaterThanOrEqual(5);
    await expectLimited(res, "signup-ip", 5);
    expect(await snapshot()).toEqual(before);
  });

  it("a signed-in member is limited like anyone; only admins are exempt", async () => {
    const { token } = await signedIn("member");
    const member = await firstLimited(
      () => api("POST", "/api/users", { body: newUserBody(), token, headers: { "CF-Connecting-IP": "203.0.113.70" } }),
      5,
    );
    await expectLimited(member.res, "signup-ip", 5);
    const { token: admin } = await signedIn("admin");
    const headers = { "CF-Connecting-IP": "203.0.113.60" };
    for (let i = 0; i < 7; i++) {
      expect((await api("POST", "/api/users", { body: newUserBody(), token: admin, headers })).status).toBe(201);
    }
  });
});

describe("the whole API", () => {
  it(`per client address: over ${rateLimitPolicies.api.limit} requests a minute → 429; sending tokens changes nothing`, async () => {
    const { token } = await signedIn("member");
    const headers = { "CF-Connecting-IP": "203.0.113.90" };
    // Alternate a real token and junk ones: the key is the address, whatever the token.
    const { res, allowed } = await firstLimited(
      (i) => api("GET", "/api/auth/me", { token: i % 2 ? token : "x".repeat(43), headers }),
      rateLimitPolicies.api.limit,
    );
    expect(allowed).toBeGreaterThanOrEqual(rateLimitPolicies.api.limit);
    await expectLimited(res, "api", rateLimitPolicies.api.limit);
    expect((await api("GET", "/api/auth/me", { token, headers: { "CF-Connecting-IP": "203.0.113.91" } })).status).toBe(
      200,
    );
  }, 60_000);

  it("an IPv6 client's whole /64 shares one key", () => {
    expect(clientAddressKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(clientAddressKey("2001:0db8:0001:0002:ffff:ffff:ffff:ffff")).toBe("2001:db8:1:2::/64");
    expect(clientAddressKey("2001:db8::1")).toBe("2001:db8::/64");
    expect(clientAddressKey("203.0.113.9")).toBe("203.0.113.9");
    expect(clientAddressKey(undefined)).toBe("unknown");
  });

  it("an IPv4 client seen as an IPv4-mapped IPv6 address (Node on ::) keeps its own key", () => {
    expect(clientAddressKey("::ffff:1.2.3.4")).toBe("1.2.3.4");
    expect(clientAddressKey("::ffff:5.6.7.8")).toBe("5.6.7.8");
    expect(clientAddressKey("::ffff:0102:0304")).toBe("1.2.3.4");
    expect(clientAddressKey("::FFFF:203.0.113.9")).toBe("203.0.113.9");
  });

  it("an address that does not parse is its own key, bounded", () => {
    expect(clientAddressKey("not:an:address")).toBe("not:an:address");
    expect(clientAddressKey(`${"f:".repeat(100)}`)).toHaveLength(64);
  });
});

describe("a failing rate limiter", () => {
  it("lets requests through (fail open) and logs it", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const broken = { limit: () => Promise.reject(new Error("rate limiter unavailable")) };
    const user = await seedUser();
    const res = await apiWith(
      { LOGIN_IP_LIMITER: broken, PASSWORD_ACCOUNT_LIMITER: broken, API_LIMITER: broken },
      "POST",
      "/api/auth/login",
      { body: { email: user.email, password: PASSWORD } },
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

describe("npm start -- --no-rate-limits (RATE_LIMITS=off)", () => {
  // What `wrangler dev` hands the Worker: the request as sent to this machine.
  async function signUp(origin: string, address: string, vars: Record<string, string>) {
    const ctx = createExecutionContext();
    const request = new Request(`${origin}/api/users`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "CF-Connecting-IP": address },
      body: JSON.stringify(newUserBody()),
    });
    const res = await worker.fetch(request, { ...env, ...vars } as Bindings, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  }

  it("lets a local test suite sign up more than 5 users a minute from one address", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++)
      statuses.push((await signUp("http://localhost:8787", "198.51.100.77", { RATE_LIMITS: "off" })).status);
    expect(statuses).toEqual(Array(8).fill(201));
  });

  it("does nothing for a request to any other host, even if left on", async () => {
    const { res, allowed } = await firstLimited(
      () => signUp("https://users.example.com", "198.51.100.78", { RATE_LIMITS: "off" }),
      5,
    );
    expect(allowed).toBeGreaterThanOrEqual(5);
    await expectLimited(res, "signup-ip", 5);
  });

  it("is refused as configuration with a public APP_URL", async () => {
    const res = await signUp("http://localhost:8787", "198.51.100.79", {
      RATE_LIMITS: "off",
      APP_URL: "https://app.example.com",
      MAIL_TRANSPORT: "resend",
      // The production hash cost: the tests' low one is refused with a public APP_URL too.
      PASSWORD_HASH_COST: "standard",
    });
    expect(res.status).toBe(500);
  });
});
