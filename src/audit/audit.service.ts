import type { Actor } from "../authz/actor";
import { can, guardFor } from "../authz/policy";
import { ForbiddenError } from "../lib/errors";
import type { AuditEventFilter, AuditEventPageRequest, AuditEventsRepository } from "./audit.repository";
import type { AuditEventRow } from "./audit.schema";

export type AuditEventPage = { events: AuditEventRow[]; hasMore: boolean };

/** Reading the security events, and forgetting them after the retention (the writes record them: audit.events.ts). */
export type AuditLogService = {
  /** Every event, for admins (the session and the role checked in D1), filtered and paged. */
  list(actor: Actor, filter: AuditEventFilter): Promise<AuditEventPage>;
  /** The caller's own recent activity: events it did or underwent. */
  listOwn(actor: Actor, page: AuditEventPageRequest): Promise<AuditEventPage>;
  /** Housekeeping: delete events older than the retention, in bounded batches. */
  pruneExpired(): Promise<number>;
};

export type AuditLogServiceDeps = {
  repository: AuditEventsRepository;
  retentionDays: number;
  now?: () => Date;
};

// 500 rows a statement, 4 statements a cron run (every minute): 2,000 events a minute at most,
// each statement short enough never to stall the writes around it.
const PRUNE_BATCH_SIZE = 500;
const PRUNE_MAX_BATCHES = 4;

export function createAuditLogService({
  repository,
  retentionDays,
  now = () => new Date(),
}: AuditLogServiceDeps): AuditLogService {
  // One more row than asked for says whether there is a next page.
  const paged = (rows: AuditEventRow[], limit: number): AuditEventPage => ({
    events: rows.slice(0, limit),
    hasMore: rows.length > limit,
  });

  return {
    async list(actor, filter) {
      if (!can(actor, "audit:read")) throw new ForbiddenError("Only admins may read the audit log.");
      const guard = guardFor(actor, ["audit:read"], undefined, now());
      return paged(await repository.list({ ...filter, limit: filter.limit + 1 }, { guard }), filter.limit);
    },

    async listOwn(actor, { after, limit }) {
      const page = paged(await repository.listInvolving(actor.user.id, { after, limit: limit + 1 }), limit);
      // What someone else did to the caller (an admin's change, a disable) shows who did it, but
      // not where they were: their address and user agent stay in the admins' log.
      const own = (row: AuditEventRow): AuditEventRow =>
        row.actorUserId === actor.user.id ? row : { ...row, actorIp: null, actorUserAgent: null };
      return { ...page, events: page.events.map(own) };
    },

    pruneExpired() {
      const cutoff = new Date(now().getTime() - retentionDays * 86_400_000);
      return repository.deleteOlderThan(cutoff, { batchSize: PRUNE_BATCH_SIZE, maxBatches: PRUNE_MAX_BATCHES });
    },
  };
}
