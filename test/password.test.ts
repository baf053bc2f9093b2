import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { toBase64Url, utf8 } from "../src/lib/encoding";
import { createPasswordHasher, DEFAULT_SCRYPT, keyDerivation, LOW_SCRYPT } from "../src/lib/password";
import { newUserBody, PASSWORD, seedUser, userRow, usersRepository } from "./helpers/fixtures";
import { api, apiWith } from "./helpers/http";

afterEach(() => vi.restoreAllMocks());

/** A hash as edge-users stored them before scrypt: PBKDF2-SHA-256 through WebCrypto. */
async function legacyPbkdf2Hash(password: string, iterations = 100_000): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const material = await crypto.subtle.importKey("raw", utf8(password), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, material, 256);
  return `$pbkdf2-sha256$i=${iterations},p=0$${toBase64Url(salt)}$${toBase64Url(bits)}`;
}

const SCRYPT_HASH = /^\$scrypt\$ln=14,r=8,p=5\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/;

describe("password hasher (scrypt, node:crypto in workerd)", () => {
  const hasher = createPasswordHasher();

  it("hash → self-describing string with algorithm, parameters, a random salt and the hash", async () => {
    const [first, second] = await Promise.all([hasher.hash(PASSWORD), hasher.hash(PASSWORD)]);
    expect(first).toMatch(SCRYPT_HASH);
    expect(first).not.toBe(second);
  });

  it("the default is OWASP's N=2^14, r=8, p=5 row: 16 MiB, within workerd's N·r·p limit of 2^20", () => {
    expect(DEFAULT_SCRYPT).toEqual({ logN: 14, r: 8, p: 5 });
    expect(128 * DEFAULT_SCRYPT.r * 2 ** DEFAULT_SCRYPT.logN).toBe(16 * 1024 * 1024);
    expect(2 ** DEFAULT_SCRYPT.logN * DEFAULT_SCRYPT.r * DEFAULT_SCRYPT.p).toBeLessThanOrEqual(2 ** 20);
  });

  it("matches RFC 7914's test vector (the same bytes Node's scrypt gives)", async () => {
    const key = await keyDerivation.scrypt(utf8("password"), utf8("NaCl"), { logN: 10, r: 8, p: 16 });
    expect([...key].map((byte) => byte.toString(16).padStart(2, "0")).join("")).toBe(
      "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162",
    );
  });

  it("verify accepts the password and rejects anything else", async () => {
    const stored = await hasher.hash(PASSWORD);
    expect(await hasher.verify(PASSWORD, stored)).toEqual({ valid: true, needsRehash: false });
    expect(await hasher.verify(`${PASSWORD} `, stored)).toEqual({ valid: false, needsRehash: false });
    expect(await hasher.verify("", stored)).toEqual({ valid: false, needsRehash: false });
  });

  it("verify of an unknown account (null) or a corrupt hash → invalid after one full derivation, never throws", async () => {
    const derive = vi.spyOn(keyDerivation, "scrypt");
    for (const stored of [null, "$bcrypt$whatever", "$scrypt$ln=14,r=8$AAAA$AAAA"]) {
      derive.mockClear();
      expect(await hasher.verify(PASSWORD, stored)).toEqual({ valid: false, needsRehash: false });
      expect(derive).toHaveBeenCalledTimes(1);
      expect(derive.mock.calls[0]?.[2]).toEqual(DEFAULT_SCRYPT);
    }
  });

  it("a stored hash asking for more than workerd allows (N·r·p > 2^20, or > 32 MiB) is refused without that work", async () => {
    const derive = vi.spyOn(keyDerivation, "scrypt");
    for (const settings of ["ln=20,r=8,p=1", "ln=17,r=8,p=2", "ln=18,r=1,p=5"]) {
      derive.mockClear();
      expect(await hasher.verify(PASSWORD, `$scrypt$${settings}$AAAAAAAAAAAAAAAAAAAAAA$AAAA`)).toEqual({
        valid: false,
        needsRehash: false,
      });
      expect(derive.mock.calls.map((call) => call[2])).toEqual([DEFAULT_SCRYPT]);
    }
    expect(() => createPasswordHasher({ scrypt: { logN: 17, r: 8, p: 2 } })).toThrow(RangeError);
  });

  it("a hash with weaker scrypt parameters verifies and asks to be re-hashed", async () => {
    const old = await createPasswordHasher({ scrypt: { logN: 12, r: 8, p: 1 } }).hash(PASSWORD);
    expect(old).toContain("$ln=12,r=8,p=1$");
    expect(await hasher.verify(PASSWORD, old)).toEqual({ valid: true, needsRehash: true });
    expect(await hasher.verify("wrong password!!", old)).toEqual({ valid: false, needsRehash: false });
  });

  it("a PBKDF2 hash from before scrypt verifies and asks to be re-hashed", async () => {
    const legacy = await legacyPbkdf2Hash(PASSWORD);
    expect(await hasher.verify(PASSWORD, legacy)).toEqual({ valid: true, needsRehash: true });
    expect(await hasher.verify("wrong password!!", legacy)).toEqual({ valid: false, needsRehash: false });
    // Above what Workers ever allowed for PBKDF2: refused.
    expect(await hasher.verify(PASSWORD, "$pbkdf2-sha256$i=100001,p=0$AAAA$AAAA")).toEqual({
      valid: false,
      needsRehash: false,
    });
  });

  it("a pepper changes the hash; adding one asks for a re-hash of unpeppered hashes", async () => {
    const peppered = createPasswordHasher({ pepper: "a-pepper-of-at-least-16-chars" });
    const stored = await peppered.hash(PASSWORD);
    expect(stored).toContain(",pepper=1$");
    expect(await peppered.verify(PASSWORD, stored)).toEqual({ valid: true, needsRehash: false });
    expect((await createPasswordHasher({ pepper: "another-pepper-16-chars!" }).verify(PASSWORD, stored)).valid).toBe(
      false,
    );
    expect(await peppered.verify(PASSWORD, await hasher.hash(PASSWORD))).toEqual({ valid: true, needsRehash: true });
  });

  it("a peppered hash without the pepper configured fails loudly rather than locking users out silently", async () => {
    const stored = await createPasswordHasher({ pepper: "a-pepper-of-at-least-16-chars" }).hash(PASSWORD);
    await expect(hasher.verify(PASSWORD, stored)).rejects.toThrow(/pepper/);
  });
});

describe("PASSWORD_PEPPER through the Worker", () => {
  it("new hashes are peppered, and the user signs in with the same pepper", async () => {
    const withPepper = { PASSWORD_PEPPER: "a-pepper-of-at-least-16-chars", PASSWORD_HASH_COST: "standard" };
    const body = newUserBody();
    const created = await apiWith(withPepper, "POST", "/api/users", { body });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    expect((await userRow(id))?.password_hash).toMatch(/^\$scrypt\$ln=14,r=8,p=5,pepper=1\$/);
    const login = { body: { email: body.email, password: body.password } };
    expect((await apiWith(withPepper, "POST", "/api/auth/login", login)).status).toBe(200);
    expect(
      (await apiWith({ PASSWORD_PEPPER: "a-different-pepper-16+" }, "POST", "/api/auth/login", login)).status,
    ).toBe(401);
  });

  it("a pepper shorter than 16 characters is a configuration error (500), never used", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const res = await apiWith({ PASSWORD_PEPPER: "short" }, "POST", "/api/users", { body: newUserBody() });
    expect(res.status).toBe(500);
  });
});

describe("PASSWORD_HASH_COST", () => {
  const login = (user: { email: string }) => ({ body: { email: user.email, password: PASSWORD } });

  it("low: new hashes get N=2^10, r=8, p=1, recorded in the hash; standard: the production row", async () => {
    expect(LOW_SCRYPT).toEqual({ logN: 10, r: 8, p: 1 });
    for (const [cost, prefix] of [
      ["low", "$scrypt$ln=10,r=8,p=1$"],
      ["standard", "$scrypt$ln=14,r=8,p=5$"],
    ] as const) {
      const created = await apiWith({ PASSWORD_HASH_COST: cost }, "POST", "/api/users", { body: newUserBody() });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };
      expect(String((await userRow(id))?.password_hash).startsWith(prefix)).toBe(true);
    }
  });

  it("a hash made at either cost signs in under the other, and is re-hashed to the current one", async () => {
    for (const [from, to, prefix] of [
      ["standard", "low", "$scrypt$ln=10,"],
      ["low", "standard", "$scrypt$ln=14,"],
    ] as const) {
      const body = newUserBody();
      expect((await apiWith({ PASSWORD_HASH_COST: from }, "POST", "/api/users", { body })).status).toBe(201);
      const res = await apiWith({ PASSWORD_HASH_COST: to }, "POST", "/api/auth/login", login(body));
      expect(res.status).toBe(200);
      const [row] = (await env.DB.prepare("select password_hash from users where email = ?").bind(body.email).all())
        .results as { password_hash: string }[];
      expect(row?.password_hash.startsWith(prefix)).toBe(true);
    }
  });

  it("low with an APP_URL not on this machine is a configuration error (500), never used", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const publicUrl = { PASSWORD_HASH_COST: "low", APP_URL: "https://app.example.com", MAIL_TRANSPORT: "resend" };
    const res = await apiWith(publicUrl, "POST", "/api/users", { body: newUserBody() });
    expect(res.status).toBe(500);
    expect(logged).toHaveBeenCalledWith(expect.stringContaining("PASSWORD_HASH_COST=low"));
    const standard = await apiWith({ ...publicUrl, PASSWORD_HASH_COST: "standard" }, "POST", "/api/users", {
      body: newUserBody(),
    });
    expect(standard.status).toBe(201);
    const other = await apiWith({ PASSWORD_HASH_COST: "cheap" }, "POST", "/api/users", { body: newUserBody() });
    expect(other.status).toBe(500);
  });
});

describe("re-hash on sign-in", () => {
  it.each([
    ["a PBKDF2 hash from before scrypt", () => legacyPbkdf2Hash(PASSWORD)],
    ["weaker scrypt parameters", () => createPasswordHasher({ scrypt: { logN: 12, r: 8, p: 1 } }).hash(PASSWORD)],
  ])("%s: the user signs in, and the stored hash becomes today's scrypt", async (_, oldHash) => {
    const user = await seedUser();
    const old = await oldHash();
    await usersRepository.replacePasswordHash(user.id, (await userRow(user.id))?.password_hash as string, old);
    // The production cost: today's parameters are what the hash is checked for.
    const res = await apiWith({ PASSWORD_HASH_COST: "standard" }, "POST", "/api/auth/login", {
      body: { email: user.email, password: PASSWORD },
    });
    expect(res.status).toBe(200);
    const upgraded = (await userRow(user.id))?.password_hash as string;
    expect(upgraded).toMatch(SCRYPT_HASH);
    // The session made with the upgrade works, and so does the next sign-in.
    const { token } = (await res.json()) as { token: string };
    expect((await api("GET", "/api/auth/me", { token })).status).toBe(200);
    expect((await api("POST", "/api/auth/login", { body: { email: user.email, password: PASSWORD } })).status).toBe(
      200,
    );
  });

  it("a wrong password does not touch the stored hash", async () => {
    const user = await seedUser();
    const legacy = await legacyPbkdf2Hash(PASSWORD, 1000);
    await usersRepository.replacePasswordHash(user.id, (await userRow(user.id))?.password_hash as string, legacy);
    await api("POST", "/api/auth/login", { body: { email: user.email, password: "not the password" } });
    expect((await userRow(user.id))?.password_hash).toBe(legacy);
  });
});
