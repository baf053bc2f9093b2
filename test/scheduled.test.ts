import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { seedSession, seedUser, sessionCount } from "./helpers/fixtures";
import { api } from "./helpers/http";

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
});
