/**
 * Property-based attacks on every route (fast-check, seeded so a failure replays). Whatever
 * arrives, edge-users must never answer 5xx, must answer every 4xx with problem+json, must never
 * put a secret in a body, and must leave the database as it was when it refuses a request.
 */

import { env, exports } from "cloudflare:workers";
import { fc, test } from "@fast-check/vitest";
import { beforeAll, describe, expect } from "vitest";
import { PASSWORD, seedSession, seedUser, snapshot } from "./helpers/fixtures";
import { BASE } from "./helpers/http";

const runs = { seed: 20_261_124, numRuns: 40 };

const hostileText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ minLength: 300, maxLength: 3000 }),
  fc.constantFrom(
    "__proto__",
    "constructor",
    "prototype",
    "' OR '1'='1",
    '"; DROP TABLE users; --',
    "%' OR 1=1 --",
    "\\",
    "\u0000",
    "\uD800",
    "{{7*7}}",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4shell-style payload, on purpose
    "${jndi:ldap://x}",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "admin",
    "a".repeat(70_000),
  ),
);

const hostileKey = fc.oneof(
  fc.constantFrom("__proto__", "constructor", "prototype", "role", "status", "passwordHash", "id", "version", "email"),
  fc.string({ maxLength: 12 }),
);

const hostileValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    hostileText,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(hostileKey, tie("value"), { maxKeys: 5 }),
  ),
})).value;

/** Bodies: hostile JSON, near-valid users, prototype pollution, raw text and invalid UTF-8. */
const hostileBody = fc.oneof(
  hostileValue.map((value) => JSON.stringify(value) ?? "null"),
  fc
    .record(
      {
        email: fc.oneof(hostileText, fc.emailAddress()),
        username: hostileText,
        name: hostileText,
        password: fc.oneof(hostileText, fc.constant(PASSWORD)),
        currentPassword: hostileText,
        role: fc.oneof(hostileText, fc.constantFrom("admin", "member")),
        status: fc.oneof(hostileText, fc.constantFrom("active", "disabled")),
        extra: hostileValue,
      },
      { requiredKeys: [] },
    )
    .map((record) => JSON.stringify(record)),
  fc.constantFrom(
    '{"__proto__":{"role":"admin","isAdmin":true},"email":"p@example.com","username":"proto","name":"P","password":"correct horse battery"}',
    '{"constructor":{"prototype":{"role":"admin"}}}',
    '{"email":"a@example.com","email":"b@example.com"}',
    "[]",
    "null",
    '"string"',
    "{",
    "",
  ),
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ minLength: 1, maxLength: 64 }),
);

const contentType = fc.constantFrom(
  "application/json",
  "application/json; charset=utf-8",
  "APPLICATION/JSON",
  "application/merge-patch+json",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "",
);

/** Percent-encodes any text, lone surrogates included (as the invalid UTF-8 a raw client could send). */
function encode(text: string): string {
  return encodeURIComponent(text.toWellFormed()).concat(text === text.toWellFormed() ? "" : "%ED%A0%80");
}

const pathSegment = fc.oneof(
  hostileText.map(encode),
  fc.constantFrom(
    "%ZZ",
    "%",
    "%E0%A4%A",
    "%ED%A0%80",
    "%FF",
    "..",
    "%2e%2e",
    "%00",
    "01936b2e-7c4a-7d1e-9a3b-5f0c2d8e4a61",
  ),
);

/** Header values are bytes on the wire; these stay within what the Fetch API sends as-is. */
const headerText = hostileText.map((text) => text.replace(/[^\x20-\x7e]/g, "?"));

let secrets: string[];
let member: { id: string; token: string };
let admin: { token: string };

beforeAll(async () => {
  const memberUser = await seedUser();
  member = { id: memberUser.id, token: (await seedSession(memberUser)).token };
  admin = { token: (await seedSession(await seedUser({ role: "admin" }))).token };
});

/** Every secret the database holds right now. */
async function currentSecrets(): Promise<string[]> {
  const users = await env.DB.prepare("select password_hash from users").all<{ password_hash: string }>();
  const sessions = await env.DB.prepare("select token_hash from sessions").all<{ token_hash: string }>();
  return [
    ...users.results.flatMap(({ password_hash }) => [password_hash, ...password_hash.split("$").slice(3)]),
    ...sessions.results.map(({ token_hash }) => token_hash),
  ];
}

async function send(method: string, path: string, headers: Record<string, string>, body?: string | Uint8Array) {
  const address = `100.64.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}`;
  return exports.default.fetch(
    new Request(`${BASE}${path}`, {
      method,
      headers: { "CF-Connecting-IP": address, ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : new Uint8Array(body),
    }),
  );
}

/** The invariants every answer keeps. */
async function expectSafe(res: Response, before: Awaited<ReturnType<typeof snapshot>>) {
  const text = await res.text();
  expect(res.status, text).toBeLessThan(500);
  if (res.status >= 400) {
    expect(res.headers.get("Content-Type")).toBe("application/problem+json");
    expect(JSON.parse(text)).toMatchObject({ type: expect.stringMatching(/^\/problems\//), status: res.status });
    expect(await snapshot()).toEqual(before);
  }
  // Re-read every run: accepted requests create users and sessions with secrets of their own.
  secrets = await currentSecrets();
  for (const secret of secrets) expect(text).not.toContain(secret);
  expect(({} as Record<string, unknown>).role).toBeUndefined();
  expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
}

describe("fuzzing every route", () => {
  test.prop([hostileBody, contentType], runs)("POST /api/users (anonymous sign-up)", async (body, type) => {
    const before = await snapshot();
    await expectSafe(await send("POST", "/api/users", type ? { "Content-Type": type } : {}, body), before);
  });

  test.prop([hostileBody, contentType], runs)("POST /api/auth/login", async (body, type) => {
    const before = await snapshot();
    await expectSafe(await send("POST", "/api/auth/login", type ? { "Content-Type": type } : {}, body), before);
  });

  test.prop([hostileBody, contentType], runs)("PATCH /api/users/:id by its owner", async (body, type) => {
    const before = await snapshot();
    const headers = { Authorization: `Bearer ${member.token}`, ...(type ? { "Content-Type": type } : {}) };
    const res = await send("PATCH", `/api/users/${member.id}`, headers, body);
    if (res.status === 200) {
      // Accepted bodies may only have changed what an owner may change.
      const row = await env.DB.prepare("select role, status from users where id = ?").bind(member.id).first();
      expect(row).toEqual({ role: "member", status: "active" });
    }
    await expectSafe(res, before);
  });

  test.prop([fc.constantFrom("GET", "PATCH", "DELETE"), pathSegment, hostileBody], runs)(
    "/api/users/{hostile id} as an admin",
    async (method, segment, body) => {
      const before = await snapshot();
      const headers: Record<string, string> = {
        Authorization: `Bearer ${admin.token}`,
        "Content-Type": "application/json",
      };
      await expectSafe(
        await send(method, `/api/users/${segment}`, headers, method === "PATCH" ? body : undefined),
        before,
      );
    },
  );

  test.prop(
    [
      fc.array(fc.tuple(fc.oneof(hostileKey, fc.constantFrom("limit", "cursor", "role", "status", "q")), hostileText), {
        maxLength: 5,
      }),
    ],
    runs,
  )("GET /api/users?{hostile query} as an admin", async (pairs) => {
    const before = await snapshot();
    const query = pairs.map(([key, value]) => `${encode(key)}=${encode(value)}`).join("&");
    await expectSafe(await send("GET", `/api/users?${query}`, { Authorization: `Bearer ${admin.token}` }), before);
  });

  test.prop([fc.oneof(headerText, fc.constantFrom("Bearer", "Bearer ", "Basic x", `bearer ${"A".repeat(43)}`))], runs)(
    "GET /api/auth/me with a hostile Authorization header",
    async (authorization) => {
      const before = await snapshot();
      let headers: Record<string, string> = {};
      try {
        headers = { Authorization: new Headers({ a: authorization }).get("a") ?? "" };
      } catch {
        return; // Not a value HTTP can carry; no client could send it.
      }
      await expectSafe(await send("GET", "/api/auth/me", headers), before);
    },
  );

  test.prop([fc.oneof(headerText, fc.uuid()), hostileBody], runs)(
    "POST /api/users with a hostile Idempotency-Key",
    async (key, body) => {
      const before = await snapshot();
      let headers: Record<string, string>;
      try {
        headers = { "Idempotency-Key": new Headers({ k: key }).get("k") ?? "", "Content-Type": "application/json" };
      } catch {
        return;
      }
      await expectSafe(await send("POST", "/api/users", headers, body), before);
    },
  );

  test.prop(
    [
      fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"),
      fc.array(pathSegment, { maxLength: 4 }),
    ],
    runs,
  )("any method on any path", async (method, segments) => {
    const before = await snapshot();
    const res = await send(
      method,
      `/${segments.join("/")}`,
      {},
      method === "GET" || method === "HEAD" ? undefined : "{}",
    );
    if (method === "HEAD") {
      expect(res.status).toBeLessThan(500);
      return;
    }
    await expectSafe(res, before);
  });
});
