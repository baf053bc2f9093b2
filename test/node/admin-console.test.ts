/**
 * The admin console (/admin) in a real headless Chromium (Debian's, driven by playwright-core)
 * against the real `npm start`. Every action is checked through the API afterwards; the page must
 * log no console error, make no request to another host, and run no script a user name carries.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { client, startServer } from "./http-contract";
import { freePort } from "./setup/free-port";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ADMIN = { email: "ada@example.com", password: "demo password 1234" };
const MEMBER = { email: "grace@example.com", password: "demo password 1234" };
const XSS_NAME = "<img src=x onerror=alert(1)>";
// Screenshots for the README, when asked: ADMIN_SCREENSHOTS=docs/images npm test -- test/node/admin-console.test.ts
const SCREENSHOTS = process.env.ADMIN_SCREENSHOTS;

const state = mkdtempSync(join(tmpdir(), "edge-users-console-"));
let server: Awaited<ReturnType<typeof startServer>>;
let browser: Browser;
let page: Page;
const problems: string[] = [];
const json = client(() => server.base);

async function token(credentials: { email: string; password: string }): Promise<string> {
  const res = await json("POST", "/api/auth/login", credentials);
  return ((await res.json()) as { token: string }).token;
}

async function userByUsername(username: string) {
  const list = await json("GET", `/api/users?q=${encodeURIComponent(username)}&limit=5`, undefined, await token(ADMIN));
  const { data } = (await list.json()) as { data: { id: string; username: string }[] };
  return data.find((user) => user.username === username);
}

async function signIn(credentials = ADMIN) {
  await page.goto(`${server.base}/admin/`);
  const form = page.locator("#sign-in");
  await form.getByLabel("Email").fill(credentials.email);
  await form.getByLabel("Password").fill(credentials.password);
  await form.getByRole("button", { name: "Sign in" }).click();
}

// Its own npm start, not the shared one: the pages, filters and counts below need a database that
// holds exactly the demo users and the members made here.
beforeAll(async () => {
  const seed = spawnSync("npm", ["run", "--silent", "db:seed", "--", "--persist-to", state], { encoding: "utf8" });
  expect(seed.status, seed.stderr).toBe(0);
  const [port, inspectorPort] = [await freePort(), await freePort()];
  server = await startServer(
    "start",
    [
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--inspector-port",
      String(inspectorPort),
      "--persist-to",
      state,
      "--no-rate-limits",
      // Cheap hashes for the members signed up below (the seeded ones are re-hashed at sign-in).
      "--var",
      "PASSWORD_HASH_COST:low",
    ],
    port,
  );
  // 24 more members: two pages of 20, and one of them named to carry a script.
  for (let i = 0; i < 24; i++) {
    const res = await json("POST", "/api/users", {
      email: `member${String(i).padStart(2, "0")}@example.com`,
      username: `member${String(i).padStart(2, "0")}`,
      name: i === 7 ? XSS_NAME : `Member ${i}`,
      password: "a member passphrase",
    });
    expect(res.status).toBe(201);
  }
  // One disabled member, for the status filter.
  const admin = await token(ADMIN);
  const disabled = await userByUsername("member20");
  const off = await json("PATCH", `/api/users/${disabled?.id}`, { status: "disabled" }, admin);
  expect(off.status).toBe(200);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  server?.stop();
  rmSync(state, { recursive: true, force: true });
});

describe("the admin console in Chromium", () => {
  beforeAll(async () => {
    page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    const origin = new URL(server.base).origin;
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console: ${message.text()}`);
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("dialog", (dialog) => {
      problems.push(`a script opened a dialog: ${dialog.message()}`);
      void dialog.dismiss();
    });
    page.on("request", (request) => {
      if (new URL(request.url()).origin !== origin) problems.push(`request to another host: ${request.url()}`);
    });
  });

  afterEach(() => {
    // Expected refusals (a 403, a 409) are answers the page shows, not errors; the browser logs
    // a failed fetch as a console error, so those are filtered by status.
    const unexpected = problems.filter((line) => !/status of (400|401|403|404|409|412)/.test(line));
    expect(unexpected).toEqual([]);
    problems.length = 0;
  });

  it("is served with a strict CSP and works offline from this origin only", async () => {
    const res = await fetch(`${server.base}/admin/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(await res.text()).not.toMatch(/<script(?![^>]*src="\/admin\/admin\.js")/);
  });

  it("the sign-in form cannot send the password in a URL, even before the script runs", async () => {
    const html = await (await fetch(`${server.base}/admin/`)).text();
    expect(html).toMatch(/<form id="sign-in"[^>]*method="post"/);
    // A browser that has not run the script yet: Enter in the password field submits nothing.
    const bare = await browser.newPage();
    await bare.route("**/admin/admin.js", (route) => route.abort());
    const urls: string[] = [];
    bare.on("request", (request) => urls.push(request.url()));
    await bare.goto(`${server.base}/admin/`);
    await bare.locator("#sign-in").getByLabel("Email").fill(ADMIN.email);
    await bare.locator("#sign-in").getByLabel("Password").fill(ADMIN.password);
    await bare.locator("#sign-in").getByLabel("Password").press("Enter");
    await bare.waitForTimeout(300);
    expect(bare.url()).toBe(`${server.base}/admin/`);
    expect(urls.filter((url) => url.includes("password") || url.includes("demo"))).toEqual([]);
    await bare.close();
  });

  it("a member who signs in is told it is for admins and sees nothing else", async () => {
    await signIn(MEMBER);
    await expect.poll(() => page.getByRole("status").textContent()).toContain("This console is for admins");
    expect(await page.locator("#users-view").isVisible()).toBe(false);
    expect(await page.getByRole("button", { name: "Sign out" }).isVisible()).toBe(false);
  });

  it("an admin signs in and sees users, newest first, 20 a page; next and previous pages", async () => {
    await signIn();
    const rows = page.locator("#users tbody tr");
    await expect.poll(() => rows.count()).toBe(20);
    expect(await rows.first().locator("td").first().textContent()).toBe("member23");
    if (SCREENSHOTS) {
      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: join(SCREENSHOTS, "admin-users.png") });
    }
    await page.getByRole("button", { name: "Next page" }).click();
    await expect.poll(() => page.locator("#page-number").textContent()).toBe("Page 2");
    await expect.poll(() => rows.first().locator("td").first().textContent()).toBe("member03");
    await page.getByRole("button", { name: "Previous page" }).click();
    await expect.poll(() => rows.first().locator("td").first().textContent()).toBe("member23");
  });

  it("search, role and status filters", async () => {
    await page.locator("#filters").getByLabel("Search").fill("grace");
    await page.locator("#filters").getByRole("button", { name: "Search" }).click();
    await expect
      .poll(() => page.locator("#users tbody tr").allTextContents())
      .toEqual([expect.stringContaining("grace@example.com")]);
    await page.locator("#filters").getByLabel("Search").fill("");
    await page.locator("#filters").getByLabel("Role").selectOption("admin");
    await page.locator("#filters").getByRole("button", { name: "Search" }).click();
    await expect.poll(() => page.locator("#users tbody tr td:first-child").allTextContents()).toEqual(["ada"]);
    await page.locator("#filters").getByLabel("Role").selectOption("");
    await page.locator("#filters").getByLabel("Status").selectOption("disabled");
    await page.locator("#filters").getByRole("button", { name: "Search" }).click();
    await expect.poll(() => page.locator("#users tbody tr td:first-child").allTextContents()).toEqual(["member20"]);
    await page.locator("#filters").getByLabel("Status").selectOption("");
  });

  it("a name carrying markup is shown as text, and no script runs", async () => {
    await page.locator("#filters").getByLabel("Search").fill("member07");
    await page.locator("#filters").getByRole("button", { name: "Search" }).click();
    await expect.poll(() => page.locator("#users tbody tr td").nth(1).textContent()).toBe(XSS_NAME);
    expect(await page.locator("#users img").count()).toBe(0);
    await page.getByRole("link", { name: "member07" }).click();
    await expect.poll(() => page.locator("#user-title").textContent()).toBe(`${XSS_NAME} (member07)`);
    expect(await page.locator("main img").count()).toBe(0);
  });

  it("a user's page: edit, role, disable and enable, reset mail, sign out everywhere; each seen through the API", async () => {
    const member = await userByUsername("member05");
    const memberToken = await token({ email: "member05@example.com", password: "a member passphrase" });
    await page.goto(`${server.base}/admin/#/users/${member?.id}`);
    // A reload signs out of the console (nothing is stored): sign in again, then open the user.
    await signIn();
    await page.locator("#users-view").waitFor();
    await page.goto(`${server.base}/admin/#/users/${member?.id}`);
    await expect.poll(() => page.locator("#user-title").textContent()).toBe("Member 5 (member05)");
    await expect.poll(() => page.locator("#sessions tbody tr").count()).toBe(1);
    if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, "admin-user.png"), fullPage: true });

    await page.locator("#edit").getByLabel("Name", { exact: true }).fill("Renamed Member");
    await page.locator("#edit").getByLabel("Role").selectOption("admin");
    await page.getByRole("button", { name: "Save changes" }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toBe("Saved.");
    const admin = await token(ADMIN);
    const after = (await (await json("GET", `/api/users/${member?.id}`, undefined, admin)).json()) as Record<
      string,
      unknown
    >;
    expect(after).toMatchObject({ name: "Renamed Member", role: "admin" });

    await page.getByRole("button", { name: "Disable account" }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toContain("Account disabled");
    expect(
      ((await (await json("GET", `/api/users/${member?.id}`, undefined, admin)).json()) as { status: string }).status,
    ).toBe("disabled");
    await page.getByRole("button", { name: "Enable account" }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toBe("Account enabled.");

    await page.getByRole("button", { name: "Send a password reset mail" }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toContain("member05@example.com");
    await expect.poll(() => server.output()).toContain("To: member05@example.com");

    const fresh = await token({ email: "member05@example.com", password: "a member passphrase" });
    await page.getByRole("button", { name: "Sign out everywhere" }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toContain("signed out everywhere");
    expect((await json("GET", "/api/auth/me", undefined, fresh)).status).toBe(401);
    expect((await json("GET", "/api/auth/me", undefined, memberToken)).status).toBe(401);
  });

  it("an API refusal is shown in words, with the request id", async () => {
    await page.locator("#edit").getByLabel("Username").fill("grace");
    await page.getByRole("button", { name: "Save changes" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/Conflict.*\(request id [0-9a-f-]{36}\)/);
  });

  it("delete asks for a confirmation that names the user; cancel keeps, confirm deletes", async () => {
    const member = await userByUsername("member04");
    await page.goto(`${server.base}/admin/#/users/${member?.id}`);
    await expect.poll(() => page.locator("#user-title").textContent()).toBe("Member 4 (member04)");
    await page.getByRole("button", { name: "Delete user…" }).click();
    const dialog = page.getByRole("dialog");
    await expect.poll(() => dialog.textContent()).toContain("Delete member04 (member04@example.com)?");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    expect((await json("GET", `/api/users/${member?.id}`)).status).toBe(200);
    await page.getByRole("button", { name: "Delete user…" }).click();
    await dialog.getByRole("button", { name: "Delete", exact: true }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toBe("member04 was deleted.");
    expect((await json("GET", `/api/users/${member?.id}`)).status).toBe(404);
  });

  it("the audit log: newest first, filtered by type, an event's detail as text", async () => {
    await page.goto(`${server.base}/admin/#/audit`);
    await expect.poll(() => page.locator("#audit-events tbody tr").count()).toBe(20);
    // The role change made on the user's page above is recorded.
    await page.locator("#audit-filters").getByLabel("Type").fill("user.role_changed");
    await page.locator("#audit-filters").getByRole("button", { name: "Filter" }).click();
    await expect
      .poll(async () => new Set(await page.locator("#audit-events tbody tr td:nth-child(2)").allTextContents()))
      .toEqual(new Set(["user.role_changed"]));
    const { data } = (await (
      await json("GET", "/api/audit-events?type=user.role_changed&limit=100", undefined, await token(ADMIN))
    ).json()) as { data: { id: string }[] };
    expect(await page.locator("#audit-events tbody tr").count()).toBe(Math.min(20, data.length));
    await page
      .locator("#audit-events tbody tr")
      .first()
      .getByRole("button", { name: /^Details of/ })
      .click();
    await expect.poll(() => page.locator("#audit-detail").textContent()).toContain(`"id": "${data[0]?.id}"`);
    await page.locator("#audit-filters").getByLabel("Type").fill("");
  });

  it("webhooks: create (the secret shown once), disable and enable, a test send, a refusal in words, delete", async () => {
    const url = "https://receiver.example.com/console";
    const admin = await token(ADMIN);
    const read = async () => {
      const { data } = (await (await json("GET", "/api/webhooks?limit=100", undefined, admin)).json()) as {
        data: { id: string; url: string; events: string[]; enabled: boolean }[];
      };
      return data.find((hook) => hook.url === url);
    };
    await page.goto(`${server.base}/admin/#/webhooks`);
    const form = page.locator("#new-webhook");
    await form.getByLabel("URL").fill(url);
    await form.getByLabel("Events").fill("user.created, user.deleted");
    await form.getByRole("button", { name: "Create endpoint" }).click();
    await expect.poll(() => page.locator("#webhook-secret").textContent()).toMatch(/^whsec_/);
    const secret = (await page.locator("#webhook-secret").textContent()) ?? "";
    const hook = await read();
    expect(hook).toMatchObject({ events: ["user.created", "user.deleted"], enabled: true });
    expect(JSON.stringify(await (await json("GET", "/api/webhooks", undefined, admin)).json())).not.toContain(secret);
    await page.getByRole("button", { name: "I have copied it" }).click();
    expect(await page.locator("#webhook-secret-box").isVisible()).toBe(false);
    expect(await page.locator("#webhook-secret").textContent()).toBe("");

    await page.getByRole("button", { name: `Disable ${url}` }).click();
    await expect.poll(async () => (await read())?.enabled).toBe(false);
    await page.getByRole("button", { name: `Enable ${url}` }).click();
    await expect.poll(async () => (await read())?.enabled).toBe(true);
    await page.getByRole("button", { name: `Send a test event to ${url}` }).click();
    await expect
      .poll(() => page.locator("#deliveries tbody tr td:nth-child(2)").allTextContents())
      .toContain("webhook.test");

    await form.getByLabel("URL").fill("https://169.254.169.254/latest");
    await form.getByRole("button", { name: "Create endpoint" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("is not a public address");

    await page.getByRole("button", { name: `Delete ${url}` }).click();
    await expect.poll(() => page.locator("#confirm-webhook-text").textContent()).toContain(url);
    await page.locator("#confirm-webhook-delete").getByRole("button", { name: "Delete" }).click();
    await expect.poll(read).toBeUndefined();
    await page.goto(`${server.base}/admin/#/users`);
  });

  it("works with the keyboard alone, and fits a phone's width", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toBe("Signed out.");
    await page.setViewportSize({ width: 375, height: 740 });
    await page.locator("#sign-in").getByLabel("Email").focus();
    await page.keyboard.type(ADMIN.email);
    await page.keyboard.press("Tab");
    await page.keyboard.type(ADMIN.password);
    await page.keyboard.press("Enter");
    await expect.poll(() => page.locator("#users tbody tr").count()).toBe(20);
    const overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth");
    expect(overflow).toBeLessThanOrEqual(0);
  });
});
