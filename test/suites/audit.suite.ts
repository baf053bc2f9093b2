/**
 * Security events against each backend (D1 in workerd, libSQL in Node): an event commits exactly
 * when its write lands, and every filter of the audit log is served by an index.
 */
import { describe, expect, it } from "vitest";
import { createAuditEvents, type SecurityEvent } from "../../src/audit/audit.events";
import { auditLogQuery, createAuditEventsRepository } from "../../src/audit/audit.repository";
import type { Db } from "../../src/db/client";
import { DatabaseError } from "../../src/db/errors";
import { newId } from "../../src/lib/ids";
import { createUsersRepository } from "../../src/users/users.repository";
import { type Backend, fixtures } from "./backend";

export function auditSuite(backend: Backend) {
  const f = fixtures(backend);
  const context = { ip: "192.0.2.1", userAgent: "suite", requestId: "req-1" };
  const updated = (userId: string): SecurityEvent => ({
    type: "user.updated",
    actorId: userId,
    target: { type: "user", id: userId },
    data: { fields: ["name"] },
  });
  const eventsOf = (targetId: string) =>
    backend.query<{ type: string; request_id: string; actor_ip: string }>(
      "select type, request_id, actor_ip from audit_events where target_id = ? order by id",
      targetId,
    );
  // One request's handle, its users repository and its recorder, as composed.
  const request = (db: Db = backend.db()) => ({
    users: createUsersRepository(db),
    events: createAuditEvents(db, context, { defer: () => {} }),
  });

  describe(`security events join their write's batch (${backend.name})`, () => {
    it("a write that lands commits its events, in order, with the request's context", async () => {
      const user = await f.seedUser();
      const { users, events } = request();
      const role: SecurityEvent = {
        ...updated(user.id),
        type: "user.role_changed",
        data: { from: "member", to: "admin" },
      };
      await events.recording([updated(user.id), role], () =>
        users.update(user.id, { name: "New", role: "admin", updatedAt: new Date() }),
      );
      expect(await eventsOf(user.id)).toEqual([
        { type: "user.updated", request_id: "req-1", actor_ip: "192.0.2.1" },
        { type: "user.role_changed", request_id: "req-1", actor_ip: "192.0.2.1" },
      ]);
    });

    it("a write that is refused in its batch (a stale version) commits no event", async () => {
      const user = await f.seedUser();
      const { users, events } = request();
      const result = await events.recording(updated(user.id), () =>
        users.update(user.id, { name: "Late", updatedAt: new Date() }, { expectedVersions: [99] }),
      );
      expect(result.outcome).toBe("stale");
      expect(await eventsOf(user.id)).toEqual([]);
    });

    it("a batch that fails (the database down) leaves neither the change nor the event", async () => {
      const user = await f.seedUser();
      const db = backend.db();
      const down = new Proxy(db, {
        get: (target, property) =>
          property === "batch"
            ? () => Promise.reject(new Error("D1_ERROR: Network connection lost."))
            : Reflect.get(target, property),
      });
      const { users, events } = request(down);
      await expect(
        events.recording(updated(user.id), () => users.update(user.id, { name: "Never", updatedAt: new Date() })),
      ).rejects.toBeInstanceOf(DatabaseError);
      expect(await f.userRow(user.id)).toMatchObject({ name: "Seeded User" });
      expect(await eventsOf(user.id)).toEqual([]);
    });

    it("a write that fails before its batch runs leaves its events to no later write", async () => {
      const user = await f.seedUser();
      const { users, events } = request();
      await expect(
        events.recording(updated(user.id), () => Promise.reject(new Error("refused before the batch"))),
      ).rejects.toThrow("refused before the batch");
      await users.update(user.id, { name: "Later", updatedAt: new Date() });
      expect(await eventsOf(user.id)).toEqual([]);
    });

    it("data that could hold a secret is refused before anything is written", async () => {
      const user = await f.seedUser();
      const { users, events } = request();
      const secrets: Record<string, string | string[]>[] = [
        { password: "x" },
        { passwordHash: "x" },
        { token: "x" },
        { totp_secret: "x" },
        { recoveryCodes: ["x"] },
        { privateKey: "x" },
        { big: "x".repeat(3000) },
      ];
      for (const data of secrets) {
        await expect(
          events.recording({ ...updated(user.id), data }, () =>
            users.update(user.id, { name: "No", updatedAt: new Date() }),
          ),
        ).rejects.toThrow(/security event data/);
      }
      expect(await f.userRow(user.id)).toMatchObject({ name: "Seeded User", version: 1 });
      expect(await eventsOf(user.id)).toEqual([]);
    });
  });

  describe(`the audit log's queries (${backend.name})`, () => {
    const after = { at: new Date(), id: newId() };
    const filters: Record<string, object> = {
      "no filter": {},
      "a cursor": { after },
      type: { type: "user.updated", after },
      actorId: { actorId: newId(), after },
      targetId: { targetId: newId(), after },
      "since and until": { since: new Date(0), until: new Date(), after },
    };

    it.each(Object.entries(filters))("%s: served by an index, never a full scan or a sort", async (_, filter) => {
      const plans = await f.plansOf((db) => auditLogQuery(db, { limit: 21, ...filter }).all());
      const plan = plans.filter((detail) => detail.includes("audit_events")).join("; ");
      expect(plan).toMatch(/audit_events USING (COVERING )?INDEX audit_events_/);
      expect(plan).not.toMatch(/SCAN audit_events(?! USING)/);
      expect(plan).not.toMatch(/TEMP B-TREE/);
    });

    it("a user's own events (as actor or target): two index searches, never a full scan", async () => {
      const plans = await f.plansOf((db) =>
        createAuditEventsRepository(db).listInvolving(newId(), { limit: 21, after }),
      );
      const [plan = ""] = plans;
      expect(plan).toMatch(/audit_events_actor_idx/);
      expect(plan).toMatch(/audit_events_target_idx/);
      expect(plan).not.toMatch(/SCAN audit_events(?! USING)/);
    });
  });
}
