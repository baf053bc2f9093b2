/**
 * The typed clients (docs/clients.md, examples/typed-clients): `hono/client` over the app's own
 * type, and `openapi-fetch` over the types generated from docs/openapi.json; both compiled by
 * `npm run typecheck` and calling the Worker. A route, body or response shape that changes breaks
 * this file's types or its assertions.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createHonoClient } from "../examples/typed-clients/hono-client";
import { createUsersClient } from "../examples/typed-clients/openapi-fetch";
import { unique } from "./helpers/fixtures";

const client = createHonoClient("http://edge-users.test", (input, init) =>
  exports.default.fetch(new Request(input, init)),
);

describe("hono/client with AppType", () => {
  it("signs up, signs in, reads itself with an access token and renames itself, all typed", async () => {
    const name = `typed${unique()}`;
    const account = {
      email: `${name}@example.com`,
      username: name,
      name: "Typed Client",
      password: "a typed passphrase",
    };
    const created = await client.api.users.$post({ json: account });
    expect(created.status).toBe(201);
    if (created.status !== 201) return;
    const user = await created.json();
    expect(user.username).toBe(name);

    const login = await client.api.auth.login.$post({ json: { email: account.email, password: account.password } });
    if (login.status !== 200) throw new Error(`login: ${login.status}`);
    const { accessToken, user: signedIn } = await login.json();
    expect(signedIn.id).toBe(user.id);
    const auth = { headers: { Authorization: `Bearer ${accessToken}` } };

    const me = await client.api.auth.me.$get({}, auth);
    if (me.status !== 200) throw new Error(`me: ${me.status}`);
    expect((await me.json()).email).toBe(account.email);

    const renamed = await client.api.users[":id"].$patch({ param: { id: user.id }, json: { name: "Renamed" } }, auth);
    if (renamed.status !== 200) throw new Error(`patch: ${renamed.status}`);
    expect((await renamed.json()).name).toBe("Renamed");

    const profile = await client.api.users[":id"].$get({ param: { id: user.id } });
    if (profile.status !== 200) throw new Error(`get: ${profile.status}`);
    expect(await profile.json()).toMatchObject({ id: user.id, name: "Renamed" });
  });

  it("a documented problem is a typed response: narrowing on its status gives the Problem's fields", async () => {
    const res = await client.api.users[":id"].$get({ param: { id: "01936b2e-7c4a-7d1e-9a3b-5f0c2d8e4a61" } });
    expect(res.status).toBe(404);
    expect(res.headers.get("Content-Type")).toBe("application/problem+json");
    if (res.status !== 404) throw new Error(`expected 404, got ${res.status}`);
    const problem = await res.json();
    // Typed: `type`, `status` and `requestId` are the Problem schema's fields, without a cast.
    const { type, status, requestId }: { type: string; status: number; requestId: string } = problem;
    expect({ type, status }).toEqual({ type: "/problems/not-found", status: 404 });
    expect(requestId).toBeTruthy();

    // Optional headers may be sent, or left out as above.
    const keyed = await client.api.users.$post({
      header: { "idempotency-key": `k-${unique()}` },
      json: { email: "not an email", username: "x", name: "x", password: "x" },
    });
    if (keyed.status !== 400) throw new Error(`expected 400, got ${keyed.status}`);
    expect((await keyed.json()).type).toBe("/problems/validation");
  });
});

describe("openapi-fetch over the types generated from docs/openapi.json", () => {
  const api = createUsersClient("http://edge-users.test", (request) => exports.default.fetch(request));

  it("signs up, signs in and reads itself; a documented error comes back typed as a problem", async () => {
    const name = `fetch${unique()}`;
    const account = {
      email: `${name}@example.com`,
      username: name,
      name: "Fetch Client",
      password: "a typed passphrase",
    };
    const created = await api.POST("/api/users", { body: account });
    expect(created.response.status).toBe(201);
    expect(created.data?.username).toBe(name);

    const login = await api.POST("/api/auth/login", { body: { email: account.email, password: account.password } });
    const accessToken = login.data?.accessToken ?? "";
    expect(login.data?.user.id).toBe(created.data?.id);

    const me = await api.GET("/api/auth/me", { headers: { Authorization: `Bearer ${accessToken}` } });
    expect(me.data?.email).toBe(account.email);

    const missing = await api.GET("/api/users/{id}", {
      params: { path: { id: "01936b2e-7c4a-7d1e-9a3b-5f0c2d8e4a61" } },
    });
    expect(missing.response.status).toBe(404);
    expect(missing.error?.type).toBe("/problems/not-found");
    expect(missing.error?.requestId).toBe(missing.response.headers.get("X-Request-Id"));
  });
});
