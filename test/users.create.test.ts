import { describe, expect, it } from "vitest";
import { newUserBody, PASSWORD, signedIn, snapshot, userRow } from "./helpers/fixtures";
import { api, apiWith, expectProblem } from "./helpers/http";

describe("POST /api/users", () => {
  it("→ 201 with Location and the full user; email and username are normalised", async () => {
    const body = newUserBody();
    // The production cost, whose parameters the stored hash is checked for below.
    const res = await apiWith({ PASSWORD_HASH_COST: "standard" }, "POST", "/api/users", {
      body: { ...body, email: `  ${body.email.toUpperCase()} `, username: body.username.toUpperCase() },
    });
    expect(res.status).toBe(201);
    const user = (await res.json()) as Record<string, string>;
    expect(res.headers.get("Location")).toBe(`/api/users/${user.id}`);
    expect(user).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      email: body.email,
      username: body.username,
      name: "Test User",
      role: "member",
      status: "active",
      emailVerified: false,
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      updatedAt: user.createdAt,
    });
    const row = await userRow(user.id as string);
    expect(row).toMatchObject({ email: body.email, username: body.username, role: "member" });
    expect(row?.password_hash).toMatch(/^\$scrypt\$ln=14,r=8,p=5\$/);
    expect(row?.password_hash).not.toContain(PASSWORD);
  });

  it("ids sort by creation time", async () => {
    const first = (await (await api("POST", "/api/users", { body: newUserBody() })).json()) as { id: string };
    const second = (await (await api("POST", "/api/users", { body: newUserBody() })).json()) as { id: string };
    expect(first.id < second.id).toBe(true);
  });

  it("duplicate email (any case) → 409 and nothing is written", async () => {
    const body = newUserBody();
    expect((await api("POST", "/api/users", { body })).status).toBe(201);
    const before = await snapshot();
    const res = await api("POST", "/api/users", { body: newUserBody({ email: body.email.toUpperCase() }) });
    const problem = await expectProblem(res, 409, "/problems/conflict");
    expect(problem.detail).toBe("A user with this email already exists.");
    expect(problem).not.toHaveProperty("errors");
    expect(await snapshot()).toEqual(before);
  });

  it("duplicate username (any case) → 409 and nothing is written", async () => {
    const body = newUserBody();
    expect((await api("POST", "/api/users", { body })).status).toBe(201);
    const before = await snapshot();
    const res = await api("POST", "/api/users", { body: newUserBody({ username: body.username.toUpperCase() }) });
    const problem = await expectProblem(res, 409, "/problems/conflict");
    expect(problem.detail).toBe("A user with this username already exists.");
    expect(await snapshot()).toEqual(before);
  });

  it.each([
    ["a malformed email", { email: "not-an-email" }, "email"],
    ["a short username", { username: "ab" }, "username"],
    ["a username with other characters", { username: "ann-lee" }, "username"],
    ["a short password", { password: "short" }, "password"],
    ["an empty name", { name: "   " }, "name"],
    ["a name with control characters", { name: "Ann\u0000Lee" }, "name"],
    ["a wrong type", { name: 42 }, "name"],
    ["an unknown field", { passwordHash: "x" }, "passwordHash"],
    ["a privilege flag", { isAdmin: true }, "isAdmin"],
  ])("%s → 400 naming the path, nothing written", async (_, override, path) => {
    const before = await snapshot();
    const res = await api("POST", "/api/users", { body: newUserBody(override) });
    const problem = await expectProblem(res, 400, "/problems/validation");
    expect(problem.errors).toContainEqual({ path, message: expect.any(String) });
    expect(await snapshot()).toEqual(before);
  });

  describe("display names", () => {
    it.each([
      ["only zero-width spaces", "\u200B\u200B\u200B"],
      ["only word joiners", "\u2060\u2060"],
      ["only Hangul fillers", "\u3164\u3164"],
      ["only a Braille blank", "\u2800"],
      ["only combining marks", "\u0301\u0301"],
      ["a right-to-left override", "\u202Enimda\u202C Support"],
      ["a bidi isolate", "Ann \u2066Lee\u2069"],
      ["a zero-width space inside", "Ann\u200BLee"],
      ["a soft hyphen", "Ad\u00ADmin"],
      ["a byte-order mark inside", "An\uFEFFn"],
      ["a tag character", "Ann\u{E0041}"],
      ["a lone surrogate", "Ann\uD800Lee"],
    ])("%s → 400 naming `name`, nothing written", async (_, name) => {
      const before = await snapshot();
      const res = await api("POST", "/api/users", { body: newUserBody({ name }) });
      const problem = await expectProblem(res, 400, "/problems/validation");
      expect(problem.errors).toContainEqual({ path: "name", message: expect.any(String) });
      expect(await snapshot()).toEqual(before);
    });

    it.each([
      ["NFC-normalised and trimmed", "  Zoe\u0308 Lee  ", "Zo\u00EB Lee"],
      ["a Persian name with a zero-width non-joiner", "\u0645\u06CC\u200C\u0631\u0648\u062F", null],
      ["an emoji family (zero-width joiners)", "Ann \u{1F468}\u200D\u{1F469}\u200D\u{1F467}", null],
      ["an emoji with a variation selector", "Ann \u2764\uFE0F", null],
      ["right-to-left script without controls", "\u05D3\u05E0\u05D4", null],
    ])("%s → accepted and stored as shown", async (_, name, stored) => {
      const res = await api("POST", "/api/users", { body: newUserBody({ name }) });
      expect(res.status).toBe(201);
      const { id, name: returned } = (await res.json()) as { id: string; name: string };
      expect(returned).toBe(stored ?? name);
      expect((await userRow(id))?.name).toBe(stored ?? name);
    });
  });

  it("a missing field → 400 'Required'", async () => {
    const { password: _, ...body } = newUserBody();
    const problem = await expectProblem(await api("POST", "/api/users", { body }), 400, "/problems/validation");
    expect(problem.errors).toEqual([{ path: "password", message: "Required" }]);
  });

  it("role or status from a non-admin → 403, nothing written", async () => {
    const { token } = await signedIn("member");
    const before = await snapshot();
    await expectProblem(
      await api("POST", "/api/users", { body: newUserBody({ role: "admin" }) }),
      403,
      "/problems/forbidden",
    );
    await expectProblem(
      await api("POST", "/api/users", { body: newUserBody({ status: "disabled" }), token }),
      403,
      "/problems/forbidden",
    );
    expect(await snapshot()).toEqual(before);
  });

  it("an admin may set role and status", async () => {
    const { token } = await signedIn("admin");
    const res = await api("POST", "/api/users", { body: newUserBody({ role: "admin", status: "disabled" }), token });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ role: "admin", status: "disabled" });
  });

  it("an invalid bearer token → 401 even though sign-up is open", async () => {
    const before = await snapshot();
    const res = await api("POST", "/api/users", { body: newUserBody(), token: "x".repeat(43) });
    await expectProblem(res, 401, "/problems/unauthorized");
    expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer /);
    expect(await snapshot()).toEqual(before);
  });

  describe("with SIGNUP_OPEN=false", () => {
    const closed = { SIGNUP_OPEN: "false" };

    it("anonymous → 401, nothing written", async () => {
      const before = await snapshot();
      const res = await apiWith(closed, "POST", "/api/users", { body: newUserBody() });
      await expectProblem(res, 401, "/problems/unauthorized");
      expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer /);
      expect(await snapshot()).toEqual(before);
    });

    it("a member → 403, nothing written", async () => {
      const { token } = await signedIn("member");
      const before = await snapshot();
      await expectProblem(
        await apiWith(closed, "POST", "/api/users", { body: newUserBody(), token }),
        403,
        "/problems/forbidden",
      );
      expect(await snapshot()).toEqual(before);
    });

    it("an admin → 201", async () => {
      const { token } = await signedIn("admin");
      expect((await apiWith(closed, "POST", "/api/users", { body: newUserBody(), token })).status).toBe(201);
    });
  });
});
