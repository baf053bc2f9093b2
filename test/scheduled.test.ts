import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { d1RefusingBatches } from "./helpers/bindings";
import { seedLinkToken, seedSession, seedUser, sessionCount } from "./helpers/fixtures";
import { api } from "./helpers/http";

afterEach(() => vi.restoreAllMocks());

describe("scheduled housekeeping (cron)", () => {
  it("deletes expired sessions and keeps live ones", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    const user = await seedUser();
    await seedSession(user, new Date(Date.now() - 60_000));
    const live = await seedSession(user, new Date(Date.now() + 60_000));
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "17 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await sessionCount(user.id)).toBe(1);
    expect((await api("GET", "/api/auth/me", { token: live.token })).status).toBe(200);
    expect(JSON.parse(log.mock.calls[0]?.[0] as string)).toMatchObject({
      message: "housekeeping done",
      expiredSessionsRemoved: 1,
    });
  });

  it("deletes expired email links and keeps live ones", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    const user = await seedUser();
    await seedLinkToken(user, "verify_email", "expired-verify", Date.now() - 1000);
    await seedLinkToken(user, "reset_password", "expired-reset", Date.now() - 1000);
    await seedLinkToken(user, "reset_password", "live-reset", Date.now() + 600_000);
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "* * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    const { results } = await env.DB.prepare("select token_hash from email_tokens where user_id = ?")
      .bind(user.id)
      .all();
    expect(results).toEqual([{ token_hash: "live-reset" }]);
    const done = log.mock.calls
      .map((call) => JSON.parse(call[0] as string))
      .find((l) => l.message === "housekeeping done");
    expect(done).toMatchObject({ expiredLinksRemoved: 2 });
  });
});

describe("a housekeeping step that fails", () => {
  it("is logged, and the other steps still run", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const user = await seedUser();
    await seedSession(user, new Date(Date.now() - 60_000));
    const ctx = createExecutionContext();
    // Single statements work, batches fail: the signing keys' maintenance (a batch) fails.
    await worker.scheduled(createScheduledController({ cron: "17 * * * *" }), { ...env, DB: d1RefusingBatches() }, ctx);
    await waitOnExecutionContext(ctx);
    expect(await sessionCount(user.id)).toBe(0);
    const errors = error.mock.calls.map(([line]) => JSON.parse(line as string) as { message: string });
    expect(errors.map((line) => line.message)).toContain("housekeeping: signing keys failed");
    const done = log.mock.calls
      .map(([line]) => JSON.parse(line as string))
      .find((line) => line.message === "housekeeping done");
    expect(done).toMatchObject({ expiredSessionsRemoved: 1, signingKeyScheduled: "" });
  });
});
