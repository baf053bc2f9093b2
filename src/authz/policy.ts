import type { SessionGuard } from "../db/guards";
import type { Actor } from "./actor";

/**
 * What a caller may do. Every decision of the form "may this caller do this to that user" is made
 * by this one table, so every service and route that needs one asks the same question and gets the
 * same answer; the role × action matrix is tested against it
 * (test/authz.test.ts) as well as over HTTP (test/authorization.test.ts).
 */
export type Action =
  /** See a user's full record (email, role, status): the owner and admins. */
  | "user:read-private"
  /** Change a user's name, username, email or password: the owner and admins. */
  | "user:update"
  /** Delete a user: the owner and admins. */
  | "user:delete"
  /** List and search users: admins. */
  | "users:list"
  /** Set roles and statuses, and create users while sign-up is closed: admins. */
  | "users:administer"
  /** Create, change and delete webhook endpoints, and read their deliveries: admins. */
  | "webhooks:manage"
  /** Read every security event (the audit log): admins. */
  | "audit:read";

/** The user an action is aimed at; absent for actions on the collection. */
export type Target = { userId: string };

type Rule = (actor: Actor, target: Target | undefined) => boolean;

const isAdmin: Rule = (actor) => actor.user.role === "admin";
const ownerOrAdmin: Rule = (actor, target) => actor.user.id === target?.userId || isAdmin(actor, target);

const rules: Record<Action, Rule> = {
  "user:read-private": ownerOrAdmin,
  "user:update": ownerOrAdmin,
  "user:delete": ownerOrAdmin,
  "users:list": isAdmin,
  "users:administer": isAdmin,
  "webhooks:manage": isAdmin,
  "audit:read": isAdmin,
};

/** Every action the policy knows. */
export const actions = Object.keys(rules) as Action[];

/** True when `actor` may do `action` (to `target`). An anonymous caller may do none of these. */
export function can(actor: Actor | null, action: Action, target?: Target): boolean {
  return actor !== null && rules[action](actor, target);
}

/** Checks a guard in D1 for a read that rests on it (the sessions repository provides it). */
export type StandingCheck = { check(guard: SessionGuard): Promise<void> };

/**
 * What must still hold when a request allowed by `actions` reaches the database: the actor's
 * session is live and, where the permission came from the admin role rather than from owning the
 * target, the user is still an admin. Writes carry it in their batch, admin reads check it in D1
 * (src/db/guards.ts), so a logout, a disable or a demotion stops them at once, everywhere.
 */
export function guardFor(actor: Actor, actions: Action[], target?: Target, at = new Date()): SessionGuard {
  const owns = target !== undefined && actor.user.id === target.userId;
  const byRole = actions.some((action) => rules[action] === isAdmin || !owns);
  return { sessionId: actor.sessionId, role: byRole ? "admin" : undefined, at };
}
