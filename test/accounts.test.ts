/**
 * The account lifecycle by email (API.md, "v1.1: account lifecycle by email"), through the Worker
 * as deployed: mail goes through the real local queue to the queue consumer, which sends it to a
 * stand-in for Resend's API (test/helpers/mailbox.ts); links are read from the mails.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { hashToken } from "../src/lib/tokens";
import type { UserView } from "../src/users/users.schemas";
import {
  newUserBody,
  PASSWORD,
  seedLinkToken,
  seedSession,
  seedUser,
  sessionCount,
  signedIn,
  signedInThroughApi,
  snapshot,
  unique,
  userRow,
} from "./helpers/fixtures";
import { api, apiWith, expectProblem, serverTiming } from "./helpers/http";
import { mailbox, type SentMail, tokenFrom } from "./helpers/mailbox";

afterEach(() => vi.restoreAllMocks());

const NEW_PASSWORD = "a brand new passphrase";

async function signUp(overrides: Record<string, unknown> = {}) {
  const body = newUserBody(overrides);
  const res = await api("POST", "/api/users", { body });
  expect(res.status).toBe(201);
  const user = (await res.json()) as { id: string; email: string; emailVerified: boolean };
  return { ...user, password: body.password };
}

async function tokenRows(userId: string) {
  const { results } = await env.DB.prepare("select * from email_tokens where user_id = ? order by created_at")
    .bind(userId)
    .all<{ token_hash: string; purpose: string; email: string; created_at: number; expires_at: number }>();
  return results;
}

// Whatever headers a client can compare, with what differs per request by nature taken out.
function comparableHeaders(res: Response) {
  const headers = Object.fromEntries(res.headers);
  delete headers["x-request-id"];
  headers["server-timing"] = (headers["server-timing"] ?? "").replace(/dur=[\d.]+/g, "dur=…");
  return headers;
}

const confirmVerification = (token: unknown) =>
  api("POST", "/api/auth/email-verification/confirm", { body: { token } });
const requestReset = (email: string, headers?: Record<string, string>) =>
  api("POST", "/api/auth/password-reset", { body: { email }, headers });
const confirmReset = (token: unknown, password: unknown = NEW_PASSWORD) =>
  api("POST", "/api/auth/password-reset/confirm", { body: { token, password } });
const login = (email: string, password: string) => api("POST", "/api/auth/login", { body: { email, password } });

describe("verification on sign-up", () => {
  it("a sign-up is unverified and is mailed a single-use link to APP_URL/verify-email; only the token's hash is stored", async () => {
    const user = await signUp();
    expect(user.emailVerified).toBe(false);
    const [mail] = await mailbox.waitFor(user.email);
    expect(mail?.subject).toBe("Confirm your email address");
    expect(mail?.from).toBe("edge-users <no-reply@edge-users.example>");
    expect(mail?.text).toMatch(/^http:\/\/localhost:8787\/verify-email\?token=[A-Za-z0-9_-]{43}$/m);
    const token = tokenFrom(mail as SentMail, "verify-email");

    const rows = await tokenRows(user.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ token_hash: await hashToken(token), purpose: "verify_email", email: user.email });
    expect(JSON.stringify(rows)).not.toContain(token);
    // 24 hours by default.
    const lifetime = (rows[0]?.expires_at ?? 0) - (rows[0]?.created_at ?? 0);
    expect(Math.abs(lifetime - 86_400_000)).toBeLessThan(1000);
  });

  it("confirming → 200 the full user, verified, everywhere at once; the link then is spent (400)", async () => {
    const user = await signUp();
    const token = tokenFrom((await mailbox.waitFor(user.email))[0] as SentMail, "verify-email");
    const login200 = await login(user.email, user.password);
    const { token: session } = (await login200.json()) as { token: string };
    const me = async () =>
      ((await (await api("GET", "/api/auth/me", { token: session })).json()) as UserView).emailVerified;
    // Warm the caches: the confirmation must purge them.
    expect(await me()).toBe(false);

    const res = await confirmVerification(token);
    expect(res.status).toBe(200);
    expect(res.headers.get("Cache-Control")).toBe("private, no-store");
    expect(await res.json()).toMatchObject({ id: user.id, email: user.email, emailVerified: true });
    expect(await userRow(user.id)).toMatchObject({ email_verified: 1 });
    expect(await tokenRows(user.id)).toEqual([]);
    expect(await me()).toBe(true);

    const before = await snapshot();
    await expectProblem(await confirmVerification(token), 400, "/problems/invalid-token");
    expect(await snapshot()).toEqual(before);
  });

  it.each([
    ["an unknown token", "A".repeat(43)],
    ["a malformed token", "not-a-token"],
    ["a token of the other purpose", null],
  ])("%s → 400 /problems/invalid-token; nothing changes", async (_, given) => {
    let token = given;
    if (token === null) {
      const user = await seedUser();
      await requestReset(user.email);
      token = tokenFrom((await mailbox.waitFor(user.email))[0] as SentMail, "reset-password");
    }
    const before = await snapshot();
    const problem = await expectProblem(await confirmVerification(token), 400, "/problems/invalid-token");
    expect(problem.detail).toBe("The link is invalid, already used or expired: ask for a new one.");
    expect(await snapshot()).toEqual(before);
  });

  it.each([[{}], [{ token: 5 }], [{ token: "" }], [{ token: "x".repeat(101) }], [{ token: "t", extra: 1 }]])(
    "%o → 400 validation",
    async (body) => {
      const res = await api("POST", "/api/auth/email-verification/confirm", { body });
      await expectProblem(res, 400, "/problems/validation");
    },
  );

  it("an expired link → 400, the user stays unverified", async () => {
    const user = await seedUser();
    const token = "E".repeat(43);
    await seedLinkToken(user, "verify_email", await hashToken(token), Date.now() - 1000);
    await expectProblem(await confirmVerification(token), 400, "/problems/invalid-token");
    expect(await userRow(user.id)).toMatchObject({ email_verified: 0 });
  });
});

describe("POST /api/auth/email-verification", () => {
  it("→ 202; a new link voids the earlier one", async () => {
    const { user, token } = await signedIn();
    const first = await api("POST", "/api/auth/email-verification", { token });
    expect(first.status).toBe(202);
    expect(await first.json()).toEqual({ message: "If the address is not verified yet, a link is on its way to it." });
    const [mail1] = await mailbox.waitFor(user.email, 1);
    await api("POST", "/api/auth/email-verification", { token });
    const mail2 = (await mailbox.waitFor(user.email, 2))[1];
    await expectProblem(
      await confirmVerification(tokenFrom(mail1 as SentMail, "verify-email")),
      400,
      "/problems/invalid-token",
    );
    expect((await confirmVerification(tokenFrom(mail2 as SentMail, "verify-email"))).status).toBe(200);
  });

  it("already verified → 202, the same body, and nothing is sent or stored", async () => {
    const user = await seedUser({ emailVerified: true });
    const { token } = await seedSession(user);
    const res = await api("POST", "/api/auth/email-verification", { token });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ message: "If the address is not verified yet, a link is on its way to it." });
    expect(await mailbox.settled(user.email)).toEqual([]);
    expect(await tokenRows(user.id)).toEqual([]);
  });

  it("anonymous → 401", async () => {
    await expectProblem(await api("POST", "/api/auth/email-verification"), 401, "/problems/unauthorized");
  });

  it("a link sent before the address changed does not verify the new one", async () => {
    const { user, token } = await signedIn();
    await api("POST", "/api/auth/email-verification", { token });
    const [mail] = await mailbox.waitFor(user.email);
    const newEmail = `moved_${unique()}@example.com`;
    expect(
      (await api("PATCH", `/api/users/${user.id}`, { token, body: { email: newEmail, currentPassword: PASSWORD } }))
        .status,
    ).toBe(200);
    await expectProblem(
      await confirmVerification(tokenFrom(mail as SentMail, "verify-email")),
      400,
      "/problems/invalid-token",
    );
    expect(await userRow(user.id)).toMatchObject({ email: newEmail, email_verified: 0 });
  });

  it("links per account are limited: the 4th in a minute → 429 with Retry-After, and no 4th mail", async () => {
    const { user, token } = await signedIn();
    // Each mail is awaited before the next request: a newer link voids the older, whose mail would
    // be dropped if it were still queued.
    for (let i = 0; i < 3; i++) {
      expect((await api("POST", "/api/auth/email-verification", { token })).status).toBe(202);
      await mailbox.waitFor(user.email, i + 1);
    }
    const res = await api("POST", "/api/auth/email-verification", { token });
    await expectProblem(res, 429, "/problems/rate-limited");
    expect(Number(res.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect(await mailbox.settled(user.email)).toHaveLength(3);
  });
});

describe("password reset", () => {
  const ACCEPTED = { message: "If the address belongs to an account, a link is on its way." };

  it("known, unknown and disabled addresses get the same answer after the same work; only the active account is mailed", async () => {
    const known = await seedUser();
    const disabled = await seedUser({ status: "disabled" });
    const unknown = `nobody_${unique()}@example.com`;
    const limit = vi.spyOn(env.MAIL_ACCOUNT_LIMITER, "limit");
    const answers = [];
    for (const email of [known.email, unknown, disabled.email]) {
      const res = await requestReset(email);
      answers.push({
        status: res.status,
        body: await res.json(),
        headers: comparableHeaders(res),
        // What the work was (queries, KV operations, cache), not how long it took.
        work: Object.fromEntries(Object.entries(serverTiming(res)).map(([name, { desc }]) => [name, desc])),
      });
    }
    expect(answers[0]?.status).toBe(202);
    expect(answers[0]?.body).toEqual(ACCEPTED);
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
    // The same work before the answer: one lookup, one limiter call; the mail goes after it.
    expect(answers[0]?.work).toEqual({ cache: "none", db: "1 query", total: "total" });
    expect(limit).toHaveBeenCalledTimes(3);

    expect(await mailbox.waitFor(known.email)).toHaveLength(1);
    expect(await mailbox.settled(unknown)).toEqual([]);
    expect(await mailbox.settled(disabled.email)).toEqual([]);
    expect(await tokenRows(disabled.id)).toEqual([]);
  });

  it("confirming sets the new password, ends every session, verifies the address; the link is spent", async () => {
    const { user, token: apiSession } = await signedInThroughApi();
    const { token: otherSession } = await seedSession(user);
    await requestReset(user.email);
    const [mail] = await mailbox.waitFor(user.email);
    expect(mail?.subject).toBe("Reset your password");
    expect(mail?.text).toMatch(/^http:\/\/localhost:8787\/reset-password\?token=[A-Za-z0-9_-]{43}$/m);
    const resetToken = tokenFrom(mail as SentMail, "reset-password");
    const [row] = await tokenRows(user.id);
    // 30 minutes by default.
    expect(Math.abs((row?.expires_at ?? 0) - (row?.created_at ?? 0) - 1_800_000)).toBeLessThan(1000);

    const res = await confirmReset(resetToken);
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");

    expect((await login(user.email, PASSWORD)).status).toBe(401);
    expect((await login(user.email, NEW_PASSWORD)).status).toBe(200);
    for (const session of [apiSession, otherSession]) {
      expect((await api("GET", "/api/auth/me", { token: session })).status).toBe(401);
    }
    expect(await sessionCount(user.id)).toBe(1); // the sign-in just above
    expect(await userRow(user.id)).toMatchObject({ email_verified: 1 });

    const before = await snapshot();
    await expectProblem(await confirmReset(resetToken, "yet another passphrase"), 400, "/problems/invalid-token");
    expect(await snapshot()).toEqual(before);
  });

  it("a newer link voids the earlier one", async () => {
    const user = await seedUser();
    await requestReset(user.email);
    await mailbox.waitFor(user.email, 1);
    await requestReset(user.email);
    const [first, second] = await mailbox.waitFor(user.email, 2);
    await expectProblem(
      await confirmReset(tokenFrom(first as SentMail, "reset-password")),
      400,
      "/problems/invalid-token",
    );
    expect((await confirmReset(tokenFrom(second as SentMail, "reset-password"))).status).toBe(204);
  });

  it("an expired link → 400 and the password stays", async () => {
    const user = await seedUser();
    const token = "R".repeat(43);
    await seedLinkToken(user, "reset_password", await hashToken(token), Date.now() - 1);
    const before = await userRow(user.id);
    await expectProblem(await confirmReset(token), 400, "/problems/invalid-token");
    expect(await userRow(user.id)).toEqual(before);
    expect((await login(user.email, PASSWORD)).status).toBe(200);
  });

  it("a weak new password → 400 validation, and the link still works afterwards", async () => {
    const user = await seedUser();
    await requestReset(user.email);
    const token = tokenFrom((await mailbox.waitFor(user.email))[0] as SentMail, "reset-password");
    const problem = await expectProblem(await confirmReset(token, "short"), 400, "/problems/validation");
    expect(problem.errors).toContainEqual({ path: "password", message: expect.any(String) });
    expect((await confirmReset(token)).status).toBe(204);
  });

  it("a link sent before the address changed no longer resets the password", async () => {
    const { user, token } = await signedIn();
    await requestReset(user.email);
    const [mail] = await mailbox.waitFor(user.email);
    await api("PATCH", `/api/users/${user.id}`, {
      token,
      body: { email: `moved_${unique()}@example.com`, currentPassword: PASSWORD },
    });
    const before = await userRow(user.id);
    await expectProblem(
      await confirmReset(tokenFrom(mail as SentMail, "reset-password")),
      400,
      "/problems/invalid-token",
    );
    expect(await userRow(user.id)).toEqual(before);
  });

  it("a link sent before the account was disabled no longer works, nor does a verification link", async () => {
    const { token: admin } = await signedIn("admin");
    const user = await seedUser();
    await requestReset(user.email);
    await api("POST", "/api/auth/email-verification", { token: (await seedSession(user)).token });
    const mails = await mailbox.waitFor(user.email, 2);
    const reset = mails.find((mail) => mail.subject === "Reset your password") as SentMail;
    const verify = mails.find((mail) => mail.subject === "Confirm your email address") as SentMail;
    expect((await api("PATCH", `/api/users/${user.id}`, { token: admin, body: { status: "disabled" } })).status).toBe(
      200,
    );
    const before = await userRow(user.id);
    await expectProblem(await confirmReset(tokenFrom(reset, "reset-password")), 400, "/problems/invalid-token");
    await expectProblem(await confirmVerification(tokenFrom(verify, "verify-email")), 400, "/problems/invalid-token");
    expect(await userRow(user.id)).toEqual(before);
  });

  it("a confirmation whose write fails (503) gives the link back: it works once the database does", async () => {
    const user = await seedUser();
    await requestReset(user.email);
    const token = tokenFrom((await mailbox.waitFor(user.email))[0] as SentMail, "reset-password");
    const failingBatches = new Proxy(env.DB, {
      get(target, property) {
        if (property === "batch") return () => Promise.reject(new Error("D1_ERROR: Network connection lost."));
        const value = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const failed = await apiWith({ DB: failingBatches }, "POST", "/api/auth/password-reset/confirm", {
      body: { token, password: NEW_PASSWORD },
    });
    await expectProblem(failed, 503, "/problems/unavailable");
    expect((await login(user.email, PASSWORD)).status).toBe(200);
    expect((await confirmReset(token)).status).toBe(204);
    expect((await login(user.email, NEW_PASSWORD)).status).toBe(200);
  });

  it("per account: the 4th request for one address in a minute → 429, known or not, from any client address", async () => {
    const known = await seedUser();
    const unknown = `nobody_${unique()}@example.com`;
    for (const email of [known.email, unknown]) {
      for (let i = 0; i < 3; i++) {
        expect((await requestReset(email)).status).toBe(202);
        // A newer link voids the older: its mail, if still queued, would be dropped.
        if (email === known.email) await mailbox.waitFor(email, i + 1);
      }
      const res = await requestReset(email);
      await expectProblem(res, 429, "/problems/rate-limited");
      expect(Number(res.headers.get("Retry-After"))).toBeGreaterThan(0);
    }
    expect(await mailbox.settled(known.email)).toHaveLength(3);
  });

  it("per client address: the 11th request in a minute → 429", async () => {
    const address = { "CF-Connecting-IP": `192.0.2.${Math.floor(Math.random() * 250)}` };
    const statuses = [];
    for (let i = 0; i < 11; i++) statuses.push((await requestReset(`nobody_${unique()}@example.com`, address)).status);
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(202));
    expect(statuses[10]).toBe(429);
  });

  it.each([[{}], [{ email: "not an email" }], [{ email: "a@example.com", extra: true }]])(
    "%o → 400 validation, nothing mailed",
    async (body) => {
      await expectProblem(await api("POST", "/api/auth/password-reset", { body }), 400, "/problems/validation");
    },
  );
});

describe("POST /api/users/{id}/password-reset (admins)", () => {
  it("an admin → 202; the user is mailed a link that says an administrator asked", async () => {
    const { token } = await signedIn("admin");
    const user = await seedUser();
    const res = await api("POST", `/api/users/${user.id}/password-reset`, { token });
    expect(res.status).toBe(202);
    const [mail] = await mailbox.waitFor(user.email);
    expect(mail?.text).toContain("An administrator asked for a new password");
    expect((await confirmReset(tokenFrom(mail as SentMail, "reset-password"))).status).toBe(204);
  });

  it("a disabled user → 409: its link would not work; nothing is mailed", async () => {
    const { token } = await signedIn("admin");
    const user = await seedUser({ status: "disabled" });
    const problem = await expectProblem(
      await api("POST", `/api/users/${user.id}/password-reset`, { token }),
      409,
      "/problems/conflict",
    );
    expect(problem.detail).toMatch(/disabled/);
    expect(await mailbox.settled(user.email)).toEqual([]);
  });

  it("a member → 403 (even for themselves), an unknown id → 404, anonymous → 401; nothing is mailed", async () => {
    const member = await signedIn("member");
    const { token: admin } = await signedIn("admin");
    const before = await snapshot();
    await expectProblem(
      await api("POST", `/api/users/${member.user.id}/password-reset`, { token: member.token }),
      403,
      "/problems/forbidden",
    );
    await expectProblem(
      await api("POST", "/api/users/0197a8c4-0000-7000-8000-00000000ffff/password-reset", { token: admin }),
      404,
      "/problems/not-found",
    );
    await expectProblem(
      await api("POST", `/api/users/${member.user.id}/password-reset`),
      401,
      "/problems/unauthorized",
    );
    expect(await mailbox.settled(member.user.email)).toEqual([]);
    expect(await snapshot()).toEqual(before);
  });
});

describe("email change", () => {
  const undoEmailChange = (token: unknown) => api("POST", "/api/auth/email-change/undo", { body: { token } });
  const moveEmail = (user: { id: string }, token: string, email: string) =>
    api("PATCH", `/api/users/${user.id}`, { token, body: { email, currentPassword: PASSWORD } });

  it("by the owner: the new address is unverified and mailed a link; the old one gets a notice with an undo link", async () => {
    const user = await seedUser({ emailVerified: true });
    const { token } = await seedSession(user);
    const newEmail = `new_${unique()}@example.com`;
    const res = await moveEmail(user, token, newEmail);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ email: newEmail, emailVerified: false });
    expect(await userRow(user.id)).toMatchObject({ email: newEmail, email_verified: 0 });

    const [link] = await mailbox.waitFor(newEmail);
    const [notice] = await mailbox.waitFor(user.email);
    expect(notice?.subject).toBe("Your email address was changed");
    expect(notice?.text).toContain(`The new address: ${newEmail}`);
    expect(notice?.text).toMatch(/^http:\/\/localhost:8787\/undo-email-change\?token=[A-Za-z0-9_-]{43}$/m);
    const rows = await tokenRows(user.id);
    expect(rows.find((row) => row.purpose === "undo_email_change")).toMatchObject({ email: user.email });
    const verified = await confirmVerification(tokenFrom(link as SentMail, "verify-email"));
    expect(await verified.json()).toMatchObject({ email: newEmail, emailVerified: true });
  });

  it("by an admin: the old address gets a notice that says whom to ask, with no link", async () => {
    const user = await seedUser({ emailVerified: true });
    const { token } = await signedIn("admin");
    const newEmail = `new_${unique()}@example.com`;
    expect((await api("PATCH", `/api/users/${user.id}`, { token, body: { email: newEmail } })).status).toBe(200);
    await mailbox.waitFor(newEmail);
    const [notice] = await mailbox.waitFor(user.email);
    expect(notice?.text).toMatch(/An administrator made this change\. If you did not ask for it, contact/);
    expect(notice?.text).not.toMatch(/token=/);
    expect((await tokenRows(user.id)).map((row) => row.purpose)).toEqual(["verify_email"]);
  });

  it("a takeover undone: the old address's link gives the account back, verified, signs every session out, and the thief's reset link dies", async () => {
    const user = await seedUser({ emailVerified: true });
    const stolen = await seedSession(user);
    const thief = `thief_${unique()}@example.com`;
    expect((await moveEmail(user, stolen.token, thief)).status).toBe(200);
    // The thief, now holding the account's address, asks for a reset link too.
    expect((await requestReset(thief)).status).toBe(202);
    const notice = (await mailbox.waitFor(user.email))[0] as SentMail;
    const thiefReset = (await mailbox.waitFor(thief, 2)).find((mail) => mail.subject === "Reset your password");

    const undone = await undoEmailChange(tokenFrom(notice, "undo-email-change"));
    expect(undone.status).toBe(200);
    expect(await undone.json()).toMatchObject({ id: user.id, email: user.email, emailVerified: true });
    expect(await userRow(user.id)).toMatchObject({ email: user.email, email_verified: 1 });
    expect(await sessionCount(user.id)).toBe(0);
    expect((await api("GET", "/api/auth/me", { token: stolen.token })).status).toBe(401);
    await expectProblem(
      await confirmReset(tokenFrom(thiefReset as SentMail, "reset-password")),
      400,
      "/problems/invalid-token",
    );
    // Once only.
    await expectProblem(await undoEmailChange(tokenFrom(notice, "undo-email-change")), 400, "/problems/invalid-token");
    // The owner takes the password back through the usual reset.
    expect((await requestReset(user.email)).status).toBe(202);
    const reset = (await mailbox.waitFor(user.email, 2))[1] as SentMail;
    expect((await confirmReset(tokenFrom(reset, "reset-password"))).status).toBe(204);
    expect((await login(user.email, NEW_PASSWORD)).status).toBe(200);
  });

  it("the undo link still works after the thief changed the password too", async () => {
    const user = await seedUser({ emailVerified: true });
    const { token } = await seedSession(user);
    const thief = `thief_${unique()}@example.com`;
    expect((await moveEmail(user, token, thief)).status).toBe(200);
    const changed = await api("PATCH", `/api/users/${user.id}`, {
      token,
      body: { password: NEW_PASSWORD, currentPassword: PASSWORD },
    });
    expect(changed.status).toBe(200);
    const notice = (await mailbox.waitFor(user.email))[0] as SentMail;
    expect((await undoEmailChange(tokenFrom(notice, "undo-email-change"))).status).toBe(200);
    expect(await userRow(user.id)).toMatchObject({ email: user.email });
  });

  it("undo refused: unknown, malformed or expired link → 400; an address another account took since → 409 and nothing changes", async () => {
    await expectProblem(await undoEmailChange("U".repeat(43)), 400, "/problems/invalid-token");
    await expectProblem(await undoEmailChange("short"), 400, "/problems/invalid-token");
    const user = await seedUser({ emailVerified: true });
    const { token } = await seedSession(user);
    const moved = `moved_${unique()}@example.com`;
    expect((await moveEmail(user, token, moved)).status).toBe(200);
    const notice = (await mailbox.waitFor(user.email))[0] as SentMail;
    // Someone else signs up with the address the account gave up.
    expect((await api("POST", "/api/users", { body: newUserBody({ email: user.email }) })).status).toBe(201);
    const before = await snapshot();
    const problem = await expectProblem(
      await undoEmailChange(tokenFrom(notice, "undo-email-change")),
      409,
      "/problems/conflict",
    );
    expect(problem.detail).toMatch(/contact the service's administrators/);
    expect(await snapshot()).toEqual(before);
  });

  it("a disabled account is not given back by an undo link (400)", async () => {
    const user = await seedUser({ emailVerified: true });
    const { token } = await seedSession(user);
    const { token: admin } = await signedIn("admin");
    expect((await moveEmail(user, token, `moved_${unique()}@example.com`)).status).toBe(200);
    const notice = (await mailbox.waitFor(user.email))[0] as SentMail;
    expect((await api("PATCH", `/api/users/${user.id}`, { token: admin, body: { status: "disabled" } })).status).toBe(
      200,
    );
    const before = await userRow(user.id);
    await expectProblem(await undoEmailChange(tokenFrom(notice, "undo-email-change")), 400, "/problems/invalid-token");
    expect(await userRow(user.id)).toEqual(before);
  });

  it("changing the email back and forth mails each address at most its budget (3 a minute)", async () => {
    const user = await seedUser({ emailVerified: true });
    const { token } = await seedSession(user);
    const other = `other_${unique()}@example.com`;
    const change = async (email: string) => expect((await moveEmail(user, token, email)).status).toBe(200);
    // Each change mails a link to the new address and a notice to the old one; the first three
    // changes spend both addresses' budgets (a link and a notice each, in turn) ...
    for (const [step, email] of [other, user.email, other].entries()) {
      await change(email);
      await mailbox.waitFor(other, step + 1);
      await mailbox.waitFor(user.email, step + 1);
    }
    // ... so the next two changes mail neither address.
    await change(user.email);
    await change(other);
    expect(await mailbox.settled(other)).toHaveLength(3);
    expect(await mailbox.settled(user.email)).toHaveLength(3);
    expect(await userRow(user.id)).toMatchObject({ email: other, email_verified: 0 });
  });

  it("a PATCH that keeps the same email (or changes only the name) sends nothing and keeps the address verified", async () => {
    const user = await seedUser({ emailVerified: true });
    const { token } = await seedSession(user);
    expect((await api("PATCH", `/api/users/${user.id}`, { token, body: { email: user.email } })).status).toBe(200);
    expect((await api("PATCH", `/api/users/${user.id}`, { token, body: { name: "Renamed" } })).status).toBe(200);
    expect(await mailbox.settled(user.email)).toEqual([]);
    expect(await userRow(user.id)).toMatchObject({ email_verified: 1 });
  });
});

describe("pending reset links die with the credentials they were issued under", () => {
  // A reset link mailed to the account, read from the mail (it is in the mailbox: sent).
  async function mailedResetLink(user: { email: string }, count = 1) {
    expect((await requestReset(user.email)).status).toBe(202);
    return tokenFrom((await mailbox.waitFor(user.email, count))[count - 1] as SentMail, "reset-password");
  }

  async function expectVoid(resetToken: string, userId: string) {
    const before = await userRow(userId);
    await expectProblem(await confirmReset(resetToken, "the thief's passphrase"), 400, "/problems/invalid-token");
    expect(await userRow(userId)).toEqual(before);
    expect((await tokenRows(userId)).filter((row) => row.purpose === "reset_password")).toEqual([]);
  }

  it("the owner changes the password", async () => {
    const user = await seedUser();
    const resetToken = await mailedResetLink(user);
    const { token } = await seedSession(user);
    const res = await api("PATCH", `/api/users/${user.id}`, {
      token,
      body: { password: NEW_PASSWORD, currentPassword: PASSWORD },
    });
    expect(res.status).toBe(200);
    await expectVoid(resetToken, user.id);
  });

  it("an admin sets one", async () => {
    const user = await seedUser();
    const resetToken = await mailedResetLink(user);
    const { token: admin } = await signedIn("admin");
    expect(
      (await api("PATCH", `/api/users/${user.id}`, { token: admin, body: { password: NEW_PASSWORD } })).status,
    ).toBe(200);
    await expectVoid(resetToken, user.id);
  });

  it("the account is disabled, then enabled again", async () => {
    const user = await seedUser();
    const resetToken = await mailedResetLink(user);
    const { token: admin } = await signedIn("admin");
    for (const status of ["disabled", "active"]) {
      expect((await api("PATCH", `/api/users/${user.id}`, { token: admin, body: { status } })).status).toBe(200);
    }
    await expectVoid(resetToken, user.id);
  });

  it("the email moves away and back", async () => {
    const user = await seedUser();
    const resetToken = await mailedResetLink(user);
    const { token } = await seedSession(user);
    for (const email of [`away_${unique()}@example.com`, user.email]) {
      const res = await api("PATCH", `/api/users/${user.id}`, { token, body: { email, currentPassword: PASSWORD } });
      expect(res.status).toBe(200);
    }
    await expectVoid(resetToken, user.id);
  });

  it("a rename leaves it working", async () => {
    const user = await seedUser();
    const resetToken = await mailedResetLink(user);
    const { token } = await seedSession(user);
    expect((await api("PATCH", `/api/users/${user.id}`, { token, body: { name: "Renamed" } })).status).toBe(200);
    expect((await confirmReset(resetToken)).status).toBe(204);
  });

  it("a refused write (a stale If-Match) voids nothing", async () => {
    const user = await seedUser();
    const resetToken = await mailedResetLink(user);
    const { token: admin } = await signedIn("admin");
    const refused = await api("PATCH", `/api/users/${user.id}`, {
      token: admin,
      body: { password: NEW_PASSWORD },
      headers: { "If-Match": '"v99"' },
    });
    expect(refused.status).toBe(412);
    expect((await confirmReset(resetToken)).status).toBe(204);
  });
});

describe("sign-up's mail spends the address's mail budget", () => {
  it("sign-up → sign-in → delete, five times in a row with one address: at most 3 verification mails", async () => {
    const email = `cycle_${unique()}@example.com`;
    for (let i = 0; i < 5; i++) {
      const body = newUserBody({ email });
      const created = await api("POST", "/api/users", { body });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };
      // Paced as an abuser would: each account lives until its mail has gone out.
      if (i < 3) await mailbox.waitFor(email, i + 1);
      else await mailbox.settled(email);
      const signIn = await login(email, body.password);
      const { token } = (await signIn.json()) as { token: string };
      expect((await api("DELETE", `/api/users/${id}`, { token })).status).toBe(204);
    }
    expect(await mailbox.settled(email)).toHaveLength(3);
    expect(mailbox.requests().filter((request) => request.to === email)).toHaveLength(3);
  });
});

describe("REQUIRE_EMAIL_VERIFICATION=true", () => {
  const strict = { REQUIRE_EMAIL_VERIFICATION: "true" };

  it("an unverified user's right password → 403 email-not-verified, no session, and a fresh link is mailed", async () => {
    const user = await seedUser();
    const res = await apiWith(strict, "POST", "/api/auth/login", { body: { email: user.email, password: PASSWORD } });
    const problem = await expectProblem(res, 403, "/problems/email-not-verified");
    expect(JSON.stringify(problem)).not.toContain("token");
    expect(await sessionCount(user.id)).toBe(0);
    const [mail] = await mailbox.waitFor(user.email);
    expect((await confirmVerification(tokenFrom(mail as SentMail, "verify-email"))).status).toBe(200);
    const after = await apiWith(strict, "POST", "/api/auth/login", { body: { email: user.email, password: PASSWORD } });
    expect(after.status).toBe(200);
  });

  it("a wrong password is the usual 401, whether or not the address is verified; nothing is mailed", async () => {
    const unverified = await seedUser();
    const verified = await seedUser({ emailVerified: true });
    const bodies = [];
    for (const user of [unverified, verified]) {
      const res = await apiWith(strict, "POST", "/api/auth/login", {
        body: { email: user.email, password: "wrong password!!" },
      });
      bodies.push({ ...(await expectProblem(res, 401, "/problems/unauthorized")), requestId: undefined });
    }
    expect(bodies[0]).toEqual(bodies[1]);
    expect(await mailbox.settled(unverified.email)).toEqual([]);
  });

  it("off (the default): an unverified user signs in", async () => {
    const user = await seedUser();
    expect((await login(user.email, PASSWORD)).status).toBe(200);
  });
});
