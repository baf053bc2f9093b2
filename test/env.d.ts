declare namespace Cloudflare {
  interface Env {
    /** Read from drizzle/ by vitest.config.ts, applied by test/setup/apply-migrations.ts. */
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    /** A fixed secret for tests (vitest.config.ts); a real deployment sets its own. */
    APP_SECRET: string;
    /** `low` in the tests (vitest.config.ts): cheap scrypt, as the Worker under test hashes. */
    PASSWORD_HASH_COST: string;
  }
}
