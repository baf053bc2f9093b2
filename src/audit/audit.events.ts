import { sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { type Db, dropPendingCompanions, joinNextWrite, runBatch } from "../db/client";
import { rootCauseMessage } from "../lib/errors";
import { newId } from "../lib/ids";
import { log } from "../lib/log";
import { type AuditEventRow, auditEvents, EVENT_DATA_MAX_LENGTH } from "./audit.schema";

/** Every event type of the contract (docs/audit.md says which write records each). */
export const AUDIT_EVENT_TYPES = [
  "user.created",
  "user.updated",
  "user.deleted",
  "user.role_changed",
  "user.status_changed",
  "auth.signed_in",
  "auth.sign_in_failed",
  "auth.signed_out",
  "session.revoked",
  "password.changed",
  "password.reset",
  "email.verified",
  "email.changed",
  "mfa.enabled",
  "mfa.disabled",
  "mfa.recovery_codes_regenerated",
  "mfa.recovery_code_used",
  "passkey.added",
  "passkey.removed",
  "identity.linked",
  "identity.unlinked",
  "org.created",
  "org.updated",
  "org.deleted",
  "org.member_added",
  "org.member_removed",
  "org.member_role_changed",
  "org.invitation_created",
  "org.invitation_revoked",
  "webhook.created",
  "webhook.updated",
  "webhook.deleted",
  "signing_key.rotated",
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** What `data` may hold: a few named facts (field names, a method, a reason), never a record. */
type DataValue = string | number | boolean | null | string[];
export type EventData = Record<string, DataValue>;

/** What a service says happened; the recorder adds the id, the time and the request's context. */
export type SecurityEvent = {
  type: AuditEventType;
  /** The user who did it; null when nobody signed in did (sign-up, a mailed link, the service). */
  actorId: string | null;
  target: { type: "user" | "signing_key" | "webhook"; id: string };
  data?: EventData;
};

/** Where a request came from, as the request scope knows it; all null for the cron. */
export type EventContext = { ip: string | null; userAgent: string | null; requestId: string | null };

export const NO_REQUEST: EventContext = { ip: null, userAgent: null, requestId: null };

export type AuditEvents = {
  /**
   * Runs `write` (one repository write, which commits through runBatch) with `events` in its own
   * batch, each recorded only if the write lands: refused (a guard, If-Match, a condition), failed
   * (503) or never run, it leaves no event; and no event exists without it.
   */
  recording<T>(events: SecurityEvent | SecurityEvent[], write: () => Promise<T>): Promise<T>;
  /**
   * An event that has no write of its own (a failed sign-in): inserted alone, after the response,
   * so the request takes no longer for it; a failure is logged.
   */
  recordAfterResponse(event: SecurityEvent): void;
};

// Names a secret goes by. `data` says what happened, so no key of it ever needs one of these.
// Compared without case, `_` or `-`: `password_hash`, `privateKey` and `recovery-codes` are all refused.
const SECRET_NAMES =
  /password|passwd|passphrase|hash|token|secret|totp|^otp$|^recoverycodes?$|privatekey|privatejwk|credential|cookie|authorization/;

/**
 * Where events go besides the log: the webhooks outbox (src/webhooks/). Its statement joins the
 * write's batch after the event's own insert and selects nothing unless that event row exists, so
 * a delivery exists exactly when its event does; `dispatch` runs once the write has committed.
 */
export type EventOutbox = {
  statement(row: AuditEventRow): BatchItem<"sqlite">;
  dispatch(eventIds: string[]): void;
};

export function createAuditEvents(
  db: Db,
  context: EventContext,
  {
    defer,
    now = () => new Date(),
    outbox,
  }: { defer: (task: Promise<unknown>) => void; now?: () => Date; outbox?: EventOutbox },
): AuditEvents {
  function rowOf(event: SecurityEvent): AuditEventRow {
    const data = event.data ?? {};
    assertNoSecret(data);
    return {
      id: newId(),
      type: event.type,
      occurredAt: now(),
      actorUserId: event.actorId,
      actorIp: context.ip,
      actorUserAgent: context.userAgent,
      targetType: event.target.type,
      targetId: event.target.id,
      data,
      requestId: context.requestId,
    };
  }

  return {
    async recording(events, write) {
      // Every row made (and checked) before anything joins: a bad event refuses the write whole.
      const rows = (Array.isArray(events) ? events : [events]).map(rowOf);
      for (const row of rows) {
        joinNextWrite(
          db,
          (_result, landed) =>
            db.insert(auditEvents).select(
              db
                .select({
                  id: sql<string>`${row.id}`.as("id"),
                  type: sql<string>`${row.type}`.as("type"),
                  occurredAt: sql<number>`${row.occurredAt.getTime()}`.as("occurred_at"),
                  actorUserId: sql<string | null>`${row.actorUserId}`.as("actor_user_id"),
                  actorIp: sql<string | null>`${row.actorIp}`.as("actor_ip"),
                  actorUserAgent: sql<string | null>`${row.actorUserAgent}`.as("actor_user_agent"),
                  targetType: sql<string>`${row.targetType}`.as("target_type"),
                  targetId: sql<string>`${row.targetId}`.as("target_id"),
                  data: sql<string>`${JSON.stringify(row.data)}`.as("data"),
                  requestId: sql<string | null>`${row.requestId}`.as("request_id"),
                })
                .from(sql`(select 1)`)
                .where(landed),
            ),
          { ifLanded: true },
        );
        // Last in the batch: after every event row, conditioned on its own row (not on changes()).
        if (outbox) joinNextWrite(db, () => outbox.statement(row));
      }
      try {
        const written = await write();
        outbox?.dispatch(rows.map((row) => row.id));
        return written;
      } catch (error) {
        // A write that failed before its batch ran took nothing: no later write may take the events.
        dropPendingCompanions(db);
        throw error;
      }
    },

    recordAfterResponse(event) {
      const row = rowOf(event);
      const insert = db.insert(auditEvents).values(row);
      defer(
        (outbox ? runBatch(db, [insert, outbox.statement(row)]) : insert.run())
          .then(() => outbox?.dispatch([row.id]))
          .catch((error: unknown) => {
            log("error", "recording a security event failed", { type: row.type, error: rootCauseMessage(error) });
          }),
      );
    },
  };
}

/** Refuses (a programming error, before any write) data that could carry a secret, or too much. */
function assertNoSecret(data: EventData): void {
  for (const key of Object.keys(data)) {
    if (SECRET_NAMES.test(key.toLowerCase().replace(/[_-]/g, "")))
      throw new Error(`security event data must not hold a secret (${key})`);
  }
  if (JSON.stringify(data).length > EVENT_DATA_MAX_LENGTH) {
    throw new Error(`security event data is over ${EVENT_DATA_MAX_LENGTH} characters`);
  }
}
