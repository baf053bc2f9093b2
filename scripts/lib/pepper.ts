import { devVar } from "./dev-vars";

/**
 * The pepper the Worker hashes with: PASSWORD_PEPPER from the environment (set but empty means
 * none), else, for the local database, from `.dev.vars`, where `wrangler dev` reads it.
 */
export function readPepper(remote: boolean): string | undefined {
  const pepper = process.env.PASSWORD_PEPPER ?? (remote ? undefined : devVar("PASSWORD_PEPPER"));
  if (!pepper) return undefined;
  // The Worker refuses a shorter pepper (src/config.ts); a hash made with one could never be used.
  if (pepper.length < 16) throw new Error("PASSWORD_PEPPER must be at least 16 characters");
  return pepper;
}
