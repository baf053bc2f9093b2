/** The APP_SECRET of every test run: the Worker's (vitest.config.ts) and the fixtures' alike. */
export const TEST_APP_SECRET = "test-app-secret-0123456789abcdefghijklmnopqrstuvwxyz";
