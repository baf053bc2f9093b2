import { type AuthService, createAuthService } from "./auth/auth.service";
import { createSessionsRepository } from "./auth/sessions.repository";
import { createD1Database } from "./db/d1";
import type { AppConfig, Bindings } from "./env";
import { createReadinessProbe, type ReadinessProbe } from "./health/health.service";
import { createPasswordHasher } from "./lib/password";
import { createUsersRepository } from "./users/users.repository";
import { createUsersService, type UsersService } from "./users/users.service";

export type Services = {
  users: UsersService;
  auth: AuthService;
  readiness: ReadinessProbe;
};

const built = new WeakMap<object, Services>();

/**
 * The composition root: repositories over the database, services over repositories. Built once
 * per isolate and bindings object; nothing here holds per-request state.
 */
export function createServices(env: Bindings, config: AppConfig): Services {
  const cached = built.get(env);
  if (cached) return cached;
  const db = createD1Database(env.DB);
  const users = createUsersRepository(db);
  const sessions = createSessionsRepository(db);
  const hasher = createPasswordHasher({ pepper: config.passwordPepper });
  const services: Services = {
    users: createUsersService({ users, hasher, config }),
    auth: createAuthService({ users, sessions, hasher, config }),
    readiness: createReadinessProbe({ database: env.DB, cache: env.CACHE }),
  };
  built.set(env, services);
  return services;
}
