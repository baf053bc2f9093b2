import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

const TEST_APP_SECRET = "test-app-secret-0123456789abcdefghijklmnopqrstuvwxyz";

export default defineConfig(async () => {
  const migrations = await readD1Migrations("drizzle");
  return {
    test: {
      // Every request logs a line; keep them out of the reporter (tests that care spy on console).
      onConsoleLog: (line: string) => !line.includes('"message":"request"'),
      projects: [
        {
          // Route, service and repository tests inside workerd, with local D1 and KV from wrangler.toml.
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                // APP_SECRET is a secret in production (wrangler secret put); tests use a fixed one.
                bindings: { TEST_MIGRATIONS: migrations, APP_SECRET: TEST_APP_SECRET },
              },
            }),
          ],
          test: {
            name: "workers",
            include: ["test/**/*.test.ts"],
            exclude: ["test/node/**"],
            setupFiles: ["./test/setup/apply-migrations.ts"],
          },
        },
        {
          // Tests that drive real processes (npm start, the admin CLI) from Node.
          test: {
            name: "node",
            include: ["test/node/**/*.test.ts"],
            environment: "node",
            testTimeout: 120_000,
            hookTimeout: 120_000,
          },
        },
      ],
    },
  };
});
