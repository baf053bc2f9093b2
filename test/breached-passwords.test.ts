import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type Bindings, readConfig } from "../src/config";
import { keyDerivation } from "../src/lib/password";
import { generateToken, hashToken } from "../src/lib/tokens";
import {
  newUserBody,
  PASSWORD,
  seedLinkToken,
  seedSession,
  seedUser,
  sessionCount,
  signedIn,
  unique,
  userRow,
} from "./helpers/fixtures";
import { apiWith, expectProblem, type RequestOptions } from "./helpers/http";
import { PWNED_PASSWORDS_URL, pwnedPasswords, sha1Hex } from "./helpers/pwned-passwords";

afterEach(() => {
  pwnedPasswords.restore();
  vi.restoreAllMocks();
});

/** An Analytics Engine binding that keeps what it is given. */
function capturingAnalytics() {
  const points: AnalyticsEngineDataPoint[] = [];
  return { points, binding: { writeDataPoint: (point: AnalyticsEngineDataPoint) => void points.push(point) } };
}

// vitest.config.ts runs every other test with the check off; these turn it on, against the stand-in.
const refusing = (analytics = capturingAnalytics()) => ({
  PASSWORD_BREACH_CHECK: "refuse",
  PASSWORD_BREACH_API_URL: PWNED_PASSWORDS_URL,
  ANALYTICS: analytics.binding,
});
const withCheck = (method: string, path: string, options: RequestOptions = {}) =>
  apiWith(refusing(), method, path, options);

async function breachedPassword(): Promise<string> {
  const password = `breached ${unique()} password`;
  await pwnedPasswords.breach(52_579, password);
  return password;
}
const cleanPassword = () => `clean ${unique()} passphrase`;

/** The range requests made while `run` ran. */
async function rangeRequestsDuring(run: () => Promise<unknown>) {
  const before = pwnedPasswords.requests().length;
  await run();
  return pwnedPasswords.requests().slice(before);
}

const signUp = (password: string, overrides: Record<string, unknown> = {}) =>
  withCheck("POST", "/api/users", { body: newUserBody({ password, ...overrides }) });

const breachLines = (warn: { mock: { calls: unknown[][] } }) =>
  warn.mock.calls
    .map(([line]) => JSON.parse(String(line)) as Record<string, unknown>)
    .filter((entry) => entry.message === "password breach check unavailable; the password was accepted unchecked");

describe("PASSWORD_BREACH_CHECK: configuration", () => {
  it("is off unless set, refuse in wrangler.toml, and anything but off or refuse fails loudly", () => {
    const config = (vars: Record<string, string>) => readConfig({ APP_SECRET: "x".repeat(32), ...vars } as Bindings);
    expect(config({}).passwordBreach).toEqual({
      check: "off",
      apiUrl: "https://api.pwnedpasswords.com",
    });
    // The test bindings override wrangler.toml's refuse; the Worker deployed from it refuses.
    expect(env.PASSWORD_BREACH_CHECK).toBe("off");
    expect(() => config({ PASSWORD_BREACH_CHECK: "on" })).toThrow(/PASSWORD_BREACH_CHECK/);
    expect(() => config({ PASSWORD_BREACH_API_URL: "ftp://example.com" })).toThrow(/PASSWORD_BREACH_API_URL/);
  });
});

describe("k-anonymity: what leaves the service", () => {
  it("one GET of /range/{the first 5 hex characters of the SHA-1, upper-case} with Add-Padding: true, nothing else", async () => {
    const password = cleanPassword();
    const sha1 = await sha1Hex(password);
    let res: Response | undefined;
    const requests = await rangeRequestsDuring(async () => {
      res = await signUp(password);
    });
    expect(res?.status).toBe(201);
    expect(requests).toEqual([
      {
        method: "GET",
        url: `${PWNED_PASSWORDS_URL}/range/${sha1.slice(0, 5)}`,
        path: expect.any(String),
        addPadding: "true",
      },
    ]);
    expect(requests[0]?.path).toMatch(/^\/range\/[0-9A-F]{5}$/);
    expect(requests[0]?.url).not.toContain(sha1.slice(5));
    expect(requests[0]?.url).not.toContain(encodeURIComponent(password));
  });

  it("PASSWORD_BREACH_CHECK=off (the test default): a breached password is accepted and nothing is fetched", async () => {
    const password = await breachedPassword();
    let res: Response | undefined;
    const requests = await rangeRequestsDuring(async () => {
      res = await apiWith({}, "POST", "/api/users", { body: newUserBody({ password }) });
    });
    expect(res?.status).toBe(201);
    expect(requests).toEqual([]);
  });
});

describe("sign-up (POST /api/users)", () => {
  it("a breached password → 422 /problems/breached-password; no user, no hash computed", async () => {
    const password = await breachedPassword();
    const body = newUserBody({ password });
    const derive = vi.spyOn(keyDerivation, "scrypt");
    const res = await withCheck("POST", "/api/users", { body });
    const problem = await expectProblem(res, 422, "/problems/breached-password");
    expect(problem.title).toBe("Breached password");
    expect(problem).not.toHaveProperty("errors");
    expect(JSON.stringify(problem)).not.toContain(password);
    expect(derive).not.toHaveBeenCalled();
    const { results } = await env.DB.prepare("select id from users where email = ?").bind(body.email).all();
    expect(results).toEqual([]);
  });

  it("a clean password → 201, and a suffix that only comes back as padding (count 0) is no breach", async () => {
    expect((await signUp(cleanPassword())).status).toBe(201);
    const padded = cleanPassword();
    await pwnedPasswords.padWith(padded);
    expect((await signUp(padded)).status).toBe(201);
  });

  it("a breached password with a taken email or username is the same 422: it says nothing about existing accounts", async () => {
    const existing = await seedUser();
    const password = await breachedPassword();
    const fresh = await signUp(password);
    const takenEmail = await signUp(password, { email: existing.email });
    const takenUsername = await signUp(password, { username: existing.username });
    const comparable = async (res: Response) => {
      const { requestId: _id, ...rest } = (await res.json()) as Record<string, unknown>;
      return { status: res.status, body: rest };
    };
    const expected = await comparable(fresh);
    expect(expected.status).toBe(422);
    expect(await comparable(takenEmail)).toEqual(expected);
    expect(await comparable(takenUsername)).toEqual(expected);
  });
});

describe("password change (PATCH /api/users/{id})", () => {
  it("the owner's breached new password → 422; the row, its sessions and the old password are unchanged", async () => {
    const { user, token } = await signedIn();
    await seedSession(user); // another device: a refused change must not end its session
    const before = await userRow(user.id);
    const sessions = await sessionCount(user.id);
    const password = await breachedPassword();
    const res = await withCheck("PATCH", `/api/users/${user.id}`, {
      token,
      body: { password, currentPassword: PASSWORD },
    });
    await expectProblem(res, 422, "/problems/breached-password");
    expect(await userRow(user.id)).toEqual(before);
    expect(await sessionCount(user.id)).toBe(sessions);
    const login = await withCheck("POST", "/api/auth/login", { body: { email: user.email, password: PASSWORD } });
    expect(login.status).toBe(200);
  });

  it("a wrong currentPassword is still the usual 422 /problems/unprocessable, before any lookup", async () => {
    const { user, token } = await signedIn();
    const password = await breachedPassword();
    let res: Response | undefined;
    const requests = await rangeRequestsDuring(async () => {
      res = await withCheck("PATCH", `/api/users/${user.id}`, {
        token,
        body: { password, currentPassword: "not the password at all" },
      });
    });
    await expectProblem(res as Response, 422, "/problems/unprocessable");
    expect(requests).toEqual([]);
  });

  it("an admin setting another user's password to a breached one → 422, nothing changes; a clean one → 200", async () => {
    const { token } = await signedIn("admin");
    const target = await seedUser();
    const before = await userRow(target.id);
    const refused = await withCheck("PATCH", `/api/users/${target.id}`, {
      token,
      body: { password: await breachedPassword() },
    });
    await expectProblem(refused, 422, "/problems/breached-password");
    expect(await userRow(target.id)).toEqual(before);
    const accepted = await withCheck("PATCH", `/api/users/${target.id}`, {
      token,
      body: { password: cleanPassword() },
    });
    expect(accepted.status).toBe(200);
    expect(await userRow(target.id)).not.toEqual(before);
  });
});

describe("reset confirm (POST /api/auth/password-reset/confirm)", () => {
  it("a breached password → 422, nothing changes and the link still works for a clean one", async () => {
    const user = await seedUser();
    const token = generateToken();
    await seedLinkToken(user, "reset_password", await hashToken(token), Date.now() + 600_000);
    const before = await userRow(user.id);
    const refused = await withCheck("POST", "/api/auth/password-reset/confirm", {
      body: { token, password: await breachedPassword() },
    });
    await expectProblem(refused, 422, "/problems/breached-password");
    expect(await userRow(user.id)).toEqual(before);
    const password = cleanPassword();
    const confirmed = await withCheck("POST", "/api/auth/password-reset/confirm", { body: { token, password } });
    expect(confirmed.status).toBe(204);
    const login = await withCheck("POST", "/api/auth/login", { body: { email: user.email, password } });
    expect(login.status).toBe(200);
  });

  it("an unknown link is the usual 400 /problems/invalid-token, without a lookup", async () => {
    let res: Response | undefined;
    const requests = await rangeRequestsDuring(async () => {
      res = await withCheck("POST", "/api/auth/password-reset/confirm", {
        body: { token: generateToken(), password: await breachedPassword() },
      });
    });
    await expectProblem(res as Response, 400, "/problems/invalid-token");
    expect(requests).toEqual([]);
  });
});

describe("the range API down, slow or wrong: fail open, with a warning and a data point", () => {
  it.each([
    ["answers 503", { status: 503 }, /503/],
    ["answers 429", { status: 429 }, /429/],
    ["cannot be reached", "network-error", /fetch failed/],
  ] as const)(
    "it %s → the password is accepted (201), a warn line and a breach_check_unavailable point",
    async (_, outage, reason) => {
      pwnedPasswords.fail(outage);
      const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
      const analytics = capturingAnalytics();
      const res = await apiWith(refusing(analytics), "POST", "/api/users", {
        body: newUserBody({ password: await breachedPassword() }),
      });
      expect(res.status).toBe(201);
      const [line, ...more] = breachLines(warn);
      expect(more).toEqual([]);
      expect(line).toMatchObject({
        level: "warn",
        reason: expect.stringMatching(reason),
        durationMs: expect.any(Number),
      });
      const point = analytics.points.find((p) => p.blobs?.[0] === "breach_check_unavailable");
      expect(point?.indexes).toEqual(["security:breach_check_unavailable"]);
      // event, method, route, …, the request id (blob7): the request it happened in can be found.
      expect(point?.blobs?.slice(0, 3)).toEqual(["breach_check_unavailable", "POST", "/api/users"]);
      expect(point?.blobs?.[6]).toBe(res.headers.get("X-Request-Id"));
      expect(point?.doubles?.[0]).toBe(201);
    },
  );

  it("no answer within 1 s → the lookup is abandoned and the reset goes through; the log says so", async () => {
    pwnedPasswords.fail("no-answer");
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const analytics = capturingAnalytics();
    const user = await seedUser();
    const token = generateToken();
    await seedLinkToken(user, "reset_password", await hashToken(token), Date.now() + 600_000);
    const started = Date.now();
    const res = await apiWith(refusing(analytics), "POST", "/api/auth/password-reset/confirm", {
      body: { token, password: await breachedPassword() },
    });
    const elapsedMs = Date.now() - started;
    expect(res.status).toBe(204);
    expect(elapsedMs).toBeGreaterThanOrEqual(950);
    expect(elapsedMs).toBeLessThan(5000);
    expect(breachLines(warn)).toEqual([
      expect.objectContaining({ reason: expect.stringMatching(/timed? ?out|abort/i) }),
    ]);
    expect(analytics.points.map((p) => p.indexes?.[0])).toContain("security:breach_check_unavailable");
  });
});

describe("the problem type is documented", () => {
  it("GET /problems/breached-password describes it, and the OpenAPI document lists 422 on the three routes", async () => {
    const res = await apiWith({}, "GET", "/problems/breached-password");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ type: "/problems/breached-password", status: 422 });
    const document = (await (await apiWith({}, "GET", "/openapi.json")).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, { description: string }> }>>;
    };
    for (const [path, method] of [
      ["/api/users", "post"],
      ["/api/users/{id}", "patch"],
      ["/api/auth/password-reset/confirm", "post"],
    ] as const) {
      expect(document.paths[path]?.[method]?.responses["422"]?.description).toContain("known data breach");
    }
  });
});

describe("observability of a refusal", () => {
  it("a breached password is a breached_password security data point", async () => {
    const analytics = capturingAnalytics();
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const res = await apiWith(refusing(analytics), "POST", "/api/users", {
      body: newUserBody({ password: await breachedPassword() }),
    });
    expect(res.status).toBe(422);
    expect(analytics.points.map((p) => p.indexes?.[0])).toEqual(["/api/users", "security:breached_password"]);
  });
});
