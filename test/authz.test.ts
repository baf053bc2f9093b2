import { describe, expect, it } from "vitest";
import type { Actor } from "../src/authz/actor";
import { type Action, actions, can } from "../src/authz/policy";
import type { Role, User } from "../src/db/schema";

/**
 * The authorization policy itself, caller by action: what the users service, the rate-limit
 * exemption and (over HTTP) test/authorization.test.ts rely on.
 */
type Caller = "anonymous" | "member" | "owner" | "admin" | "admin (self)";

const TARGET = "0197a8c4-0000-7000-8000-000000000001";

function actor(role: Role, id: string): Actor {
  return {
    sessionId: "s",
    user: { id, role, emailVerified: true },
    credential: { kind: "session", tokenHash: "h", user: {} as User },
  };
}

const callers: Record<Caller, Actor | null> = {
  anonymous: null,
  member: actor("member", "0197a8c4-0000-7000-8000-000000000002"),
  owner: actor("member", TARGET),
  admin: actor("admin", "0197a8c4-0000-7000-8000-000000000003"),
  "admin (self)": actor("admin", TARGET),
};

const expected: Record<Action, Record<Caller, boolean>> = {
  "user:read-private": { anonymous: false, member: false, owner: true, admin: true, "admin (self)": true },
  "user:update": { anonymous: false, member: false, owner: true, admin: true, "admin (self)": true },
  "user:delete": { anonymous: false, member: false, owner: true, admin: true, "admin (self)": true },
  "users:list": { anonymous: false, member: false, owner: false, admin: true, "admin (self)": true },
  "users:administer": { anonymous: false, member: false, owner: false, admin: true, "admin (self)": true },
  "webhooks:manage": { anonymous: false, member: false, owner: false, admin: true, "admin (self)": true },
  "audit:read": { anonymous: false, member: false, owner: false, admin: true, "admin (self)": true },
};

describe("can(actor, action, target)", () => {
  it("the table above covers every action the policy knows", () => {
    expect(Object.keys(expected).sort()).toEqual([...actions].sort());
  });

  describe.each(Object.entries(expected) as [Action, Record<Caller, boolean>][])("%s", (action, row) => {
    it.each(Object.entries(row) as [Caller, boolean][])("by %s → %s", (caller, allowed) => {
      expect(can(callers[caller], action, { userId: TARGET })).toBe(allowed);
    });
  });

  it("an action on a user with no target is nobody's own: only admins", () => {
    expect(can(callers.owner, "user:update")).toBe(false);
    expect(can(callers.admin, "user:update")).toBe(true);
  });
});
