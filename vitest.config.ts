import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { TEST_APP_SECRET } from "./test/suites/constants";

// Lines every request or every mail writes; tests that care spy on console.
const QUIET = ['"message":"request"', '"message":"mail sent"'];

export default defineConfig(async () => {
  const migrations = await readD1Migrations("drizzle");
  return {
    test: {
      // Files of both projects share this pool. Measured on the 2-core machine (workers project
      // alone): 2 at a time 64 s, 3 at a time 54 s; the Node files mostly wait on the processes they
      // drive, so a third file keeps the cores busy meanwhile (docs/testing.md#the-budget).
      maxWorkers: 3,
      // Every request logs a line; keep them out of the reporter (tests that care spy on console).
      onConsoleLog: (line: string) => !QUIET.some((marker) => line.includes(marker)),
      projects: [
        {
          // Route, service and repository tests inside workerd, with local D1 and KV from wrangler.toml.
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: {
                  TEST_MIGRATIONS: migrations,
                  // A secret in production (wrangler secret put); tests use a fixed one.
                  APP_SECRET: TEST_APP_SECRET,
                  // Mail goes to Resend's API, which test/helpers/mailbox.ts stands in for.
                  MAIL_TRANSPORT: "resend",
                  RESEND_API_KEY: "re_test_key",
                  // A failed delivery is retried at once, so the dead-letter path takes milliseconds.
                  MAIL_RETRY_BASE_DELAY_SECONDS: "0",
                  // wrangler.toml says refuse; only the tests about it turn it on, against the stand-in
                  // for Pwned Passwords in test/helpers/pwned-passwords.ts (never the network).
                  PASSWORD_BREACH_CHECK: "off",
                  PASSWORD_BREACH_API_URL: "https://pwned-passwords.test",
                  // Webhook retries at once: ten attempts and the dead letter take milliseconds.
                  WEBHOOK_RETRY_DELAY_SCALE: "0",
                  // Cheap scrypt: hashing was half the suite's CPU. Tests of the production parameters
                  // ask for PASSWORD_HASH_COST=standard themselves (test/password.test.ts).
                  PASSWORD_HASH_COST: "low",
                },
                // wrangler.toml's consumers, without waiting to fill a batch, and fewer retries.
                queueConsumers: {
                  "edge-users-mail": { maxBatchTimeout: 0, maxRetries: 2, deadLetterQueue: "edge-users-mail-dlq" },
                  "edge-users-mail-dlq": { maxBatchTimeout: 0, maxRetries: 0 },
                  "edge-users-webhooks": {
                    maxBatchTimeout: 0,
                    maxRetries: 9,
                    deadLetterQueue: "edge-users-webhooks-dlq",
                  },
                  "edge-users-webhooks-dlq": { maxBatchTimeout: 0, maxRetries: 0 },
                },
              },
            }),
          ],
          test: {
            name: "workers",
            include: ["test/**/*.test.ts"],
            exclude: ["test/node/**"],
            setupFiles: [
              "./test/setup/apply-migrations.ts",
              "./test/setup/mailbox.ts",
              "./test/setup/pwned-passwords.ts",
            ],
            // Files run side by side on two cores: a test may wait its turn for the CPU.
            testTimeout: 30_000,
            hookTimeout: 30_000,
          },
        },
        {
          // Tests that drive real processes (npm start, the admin CLI) from Node.
          test: {
            name: "node",
            include: ["test/node/**/*.test.ts"],
            environment: "node",
            // One npm start for the files that need a running service (test/node/setup/service.ts).
            globalSetup: ["./test/node/setup/service.ts"],
            // Pages and processes under a loaded CI machine (the files run in parallel): polls wait longer.
            expect: { poll: { timeout: 15_000, interval: 100 } },
            testTimeout: 120_000,
            hookTimeout: 120_000,
          },
        },
      ],
    },
  };
});
