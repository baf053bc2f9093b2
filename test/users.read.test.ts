import { describe, expect, it } from "vitest";
import { encodeCursor } from "../src/users/users.schemas";
import { seedUser, signedIn, unique } from "./helpers/fixtures";
import { api, expectProblem } from "./helpers/http";

type Page = { data: { id: string; name: string; role: string; status: string }[]; nextCursor: string | null };

describe("GET /api/users/:id", () => {
  it("to anonymous → 200 public profile only", async () => {
    const user = await seedUser({ name: "Public Person" });
    const res = await api("GET", `/api/users/${user.id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      id: user.id,
      username: user.username,
      name: "Public Person",
      createdAt: user.createdAt.toISOString(),
    });
  });

  it("to another member → 200 public profile only", async () => {
    const user = await seedUser();
    const { token } = await signedIn("member");
    const res = await api("GET", `/api/users/${user.id}`, { token });
    expect(res.status).toBe(200);
    expect(Object.keys((await res.json()) as object).sort()).toEqual(["createdAt", "id", "name", "username"]);
  });

  it("to its owner → 200 full user", async () => {
    const { user, token } = await signedIn("member");
    const body = await (await api("GET", `/api/users/${user.id}`, { token })).json();
    expect(body).toMatchObject({ id: user.id, email: user.email, role: "member", status: "active" });
  });

  it("to an admin → 200 full user", async () => {
    const user = await seedUser();
    const { token } = await signedIn("admin");
    const body = await (await api("GET", `/api/users/${user.id}`, { token })).json();
    expect(body).toMatchObject({ id: user.id, email: user.email, updatedAt: user.updatedAt.toISOString() });
  });

  it("unknown id → 404 problem", async () => {
    await expectProblem(
      await api("GET", "/api/users/01936b2e-7c4a-7d1e-9a3b-5f0c2d8e4a61"),
      404,
      "/problems/not-found",
    );
  });

  it("an id that cannot exist, of any length → 404 problem", async () => {
    await expectProblem(await api("GET", "/api/users/not-an-id"), 404, "/problems/not-found");
    await expectProblem(await api("GET", `/api/users/${"x".repeat(500)}`), 404, "/problems/not-found");
  });
});

describe("GET /api/users (admins)", () => {
  /** Users whose names share a fresh prefix, so `q` isolates them from the file's other fixtures. */
  async function seedGroup(count: number, options: Parameters<typeof seedUser>[0] = {}) {
    const prefix = `Group${unique().replace(/_/g, "")}`;
    const users = [];
    for (let i = 0; i < count; i++) {
      users.push(
        await seedUser({ ...options, name: `${prefix} ${i}`, createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)) }),
      );
    }
    return { prefix, users };
  }

  async function list(token: string, query: string): Promise<Page> {
    const res = await api("GET", `/api/users?${query}`, { token });
    expect(res.status).toBe(200);
    return (await res.json()) as Page;
  }

  it("anonymous → 401, member → 403", async () => {
    const { token } = await signedIn("member");
    const anonymous = await api("GET", "/api/users");
    await expectProblem(anonymous, 401, "/problems/unauthorized");
    expect(anonymous.headers.get("WWW-Authenticate")).toBe('Bearer realm="edge-users"');
    await expectProblem(await api("GET", "/api/users", { token }), 403, "/problems/forbidden");
  });

  it("newest first, full users, default page of 20", async () => {
    const { token } = await signedIn("admin");
    await seedGroup(21);
    const page = await list(token, "");
    expect(page.data).toHaveLength(20);
    const created = page.data.map((user) => (user as unknown as { createdAt: string }).createdAt);
    expect([...created].sort().reverse()).toEqual(created);
    expect(page.data[0]).toHaveProperty("email");
    expect(page.nextCursor).toEqual(expect.any(String));
  });

  it("walks every page with the cursor, each user exactly once, then nextCursor null", async () => {
    const { token } = await signedIn("admin");
    const { prefix, users } = await seedGroup(7);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Page = await list(token, `q=${prefix}&limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...page.data.map((user) => user.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(users.map((user) => user.id).reverse());
  });

  it("keeps order for users created in the same millisecond (ties broken by id)", async () => {
    const { token } = await signedIn("admin");
    const prefix = `Tie${unique().replace(/_/g, "")}`;
    const at = new Date(Date.UTC(2025, 5, 1));
    const users = [];
    for (let i = 0; i < 4; i++) users.push(await seedUser({ name: `${prefix} ${i}`, createdAt: at }));
    const first = await list(token, `q=${prefix}&limit=2`);
    const second = await list(token, `q=${prefix}&limit=2&cursor=${first.nextCursor}`);
    const ids = [...first.data, ...second.data].map((user) => user.id);
    expect(ids).toEqual(
      users
        .map((user) => user.id)
        .sort()
        .reverse(),
    );
    expect(second.nextCursor).toBeNull();
  });

  it("filters by role and status", async () => {
    const { token } = await signedIn("admin");
    const { prefix: admins } = await seedGroup(2, { role: "admin" });
    const { prefix: disabled } = await seedGroup(2, { status: "disabled" });
    const adminPage = await list(token, `q=${admins}&role=admin`);
    expect(adminPage.data.map((user) => user.role)).toEqual(["admin", "admin"]);
    expect((await list(token, `q=${admins}&role=member`)).data).toEqual([]);
    const disabledPage = await list(token, `q=${disabled}&status=disabled`);
    expect(disabledPage.data.map((user) => user.status)).toEqual(["disabled", "disabled"]);
    expect((await list(token, `q=${disabled}&status=active`)).data).toEqual([]);
  });

  it("q matches a case-insensitive prefix of email, username or name, and nothing else", async () => {
    const { token } = await signedIn("admin");
    const user = await seedUser({ name: "Zebulon Quartz" });
    expect((await list(token, `q=${user.email.slice(0, 12).toUpperCase()}`)).data.map((u) => u.id)).toContain(user.id);
    expect((await list(token, `q=${user.username}`)).data.map((u) => u.id)).toEqual([user.id]);
    expect((await list(token, "q=zebulon%20q")).data.map((u) => u.id)).toEqual([user.id]);
    expect((await list(token, "q=quartz")).data).toEqual([]);
  });

  it("q treats % and _ literally", async () => {
    const { token } = await signedIn("admin");
    await seedUser({ name: "Percent Person" });
    expect((await list(token, "q=%25")).data).toEqual([]);
    expect((await list(token, "q=P_rcent")).data).toEqual([]);
  });

  it.each([
    ["limit=0", "limit"],
    ["limit=101", "limit"],
    ["limit=abc", "limit"],
    ["role=owner", "role"],
    ["status=gone", "status"],
    ["cursor=not-a-cursor!", "cursor"],
    [`cursor=${btoa("12.not-an-id")}`, "cursor"],
  ])("%s → 400 naming %s", async (query, path) => {
    const { token } = await signedIn("admin");
    const problem = await expectProblem(
      await api("GET", `/api/users?${query}`, { token }),
      400,
      "/problems/validation",
    );
    expect(problem.errors).toEqual([{ path, message: expect.any(String) }]);
  });

  it("a well-formed cursor past the end → empty page", async () => {
    const { token } = await signedIn("admin");
    const cursor = encodeCursor({ createdAt: new Date(0), id: "00000000-0000-7000-8000-000000000000" });
    expect(await list(token, `cursor=${cursor}`)).toEqual({ data: [], nextCursor: null });
  });
});
