/**
 * The writes every fault test puts through a failing database (test/faults.test.ts, and the audit
 * log's "no event without its write" in test/audit.test.ts): each builds a fresh request.
 */
import { newUserBody, PASSWORD, seedUser, signedIn } from "./fixtures";

type Built = { method: string; path: string; options: { token?: string; body?: unknown } };

export const WRITES: [string, () => Promise<Built>][] = [
  ["sign-up", async () => ({ method: "POST", path: "/api/users", options: { body: newUserBody() } })],
  [
    "update",
    async () => {
      const { user, token } = await signedIn("member");
      return { method: "PATCH", path: `/api/users/${user.id}`, options: { token, body: { name: "Never" } } };
    },
  ],
  [
    "deletion",
    async () => {
      const { user, token } = await signedIn("member");
      return { method: "DELETE", path: `/api/users/${user.id}`, options: { token } };
    },
  ],
  [
    "sign-in",
    async () => {
      const user = await seedUser();
      return { method: "POST", path: "/api/auth/login", options: { body: { email: user.email, password: PASSWORD } } };
    },
  ],
  [
    "sign-out",
    async () => {
      const { token } = await signedIn("member");
      return { method: "POST", path: "/api/auth/logout", options: { token } };
    },
  ],
];
