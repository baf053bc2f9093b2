import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { newUserBody, PASSWORD } from "./helpers/fixtures";
import { api } from "./helpers/http";
import { mailbox, tokenFrom } from "./helpers/mailbox";

/**
 * Drives every route as the real clients would, then checks no response body or header ever
 * contained a password, a password hash or salt, or a session token hash from the database.
 */
describe("no secret ever leaves in a response", () => {
  it("across create, login, me, get, list, patch, the mailed links, logout and delete", async () => {
    const responses: Response[] = [];
    const call = async (...args: Parameters<typeof api>) => {
      const res = await api(...args);
      responses.push(res.clone());
      return res;
    };

    const adminBody = newUserBody();
    const memberBody = newUserBody();
    await env.DB.prepare("update users set role = 'member'").run();
    const adminCreated = (await (await call("POST", "/api/users", { body: adminBody })).json()) as { id: string };
    await env.DB.prepare("update users set role = 'admin' where id = ?").bind(adminCreated.id).run();
    const member = (await (await call("POST", "/api/users", { body: memberBody })).json()) as { id: string };

    const { token: adminToken } = (await (
      await call("POST", "/api/auth/login", { body: { email: adminBody.email, password: PASSWORD } })
    ).json()) as { token: string };
    const { token } = (await (
      await call("POST", "/api/auth/login", { body: { email: memberBody.email, password: PASSWORD } })
    ).json()) as { token: string };
    await call("POST", "/api/auth/login", { body: { email: memberBody.email, password: "wrong password" } });

    await call("GET", "/api/auth/me", { token });
    await call("GET", `/api/users/${member.id}`);
    await call("GET", `/api/users/${member.id}`, { token });
    await call("GET", `/api/users/${member.id}`, { token: adminToken });
    await call("GET", "/api/users?limit=100", { token: adminToken });
    await call("PATCH", `/api/users/${member.id}`, { token, body: { name: "Renamed" } });
    await call("PATCH", `/api/users/${member.id}`, {
      token,
      body: { password: "another good passphrase", currentPassword: "wrong current password" },
    });
    await call("PATCH", `/api/users/${member.id}`, { token, body: { passwordHash: "x" } });
    // The sign-ups' own mails first: a newer link voids the older, whose mail is then not sent.
    await mailbox.waitFor(memberBody.email, 1);
    await mailbox.waitFor(adminBody.email, 1);
    await call("POST", "/api/auth/email-verification", { token });
    await call("POST", "/api/auth/password-reset", { body: { email: adminBody.email } });
    const [, verification] = await mailbox.waitFor(memberBody.email, 2);
    await mailbox.waitFor(adminBody.email, 2);
    await call("POST", "/api/auth/email-verification/confirm", {
      body: { token: tokenFrom(verification as never, "verify-email") },
    });

    // Collect every secret the database holds now, before the member (and its rows) is deleted.
    const users = await env.DB.prepare("select password_hash from users").all<{ password_hash: string }>();
    const sessions = await env.DB.prepare("select token_hash from sessions").all<{ token_hash: string }>();
    const links = await env.DB.prepare("select token_hash from email_tokens").all<{ token_hash: string }>();
    const mailedTokens = mailbox
      .sent()
      .flatMap((mail) => [...mail.text.matchAll(/token=([A-Za-z0-9_-]+)/g)].map((match) => match[1] as string));
    expect(links.results.length).toBeGreaterThan(0);
    const secrets = [
      ...links.results.map(({ token_hash }) => token_hash),
      ...mailedTokens,
      PASSWORD,
      ...users.results.flatMap(({ password_hash }) => [password_hash, ...password_hash.split("$").slice(3)]),
      ...sessions.results.map(({ token_hash }) => token_hash),
    ];
    expect(secrets.length).toBeGreaterThan(6);

    await call("POST", "/api/auth/logout", { token });
    await call("DELETE", `/api/users/${member.id}`, { token: adminToken });

    for (const res of responses) {
      const text = `${JSON.stringify([...res.headers])}\n${await res.text()}`;
      for (const secret of secrets) expect(text).not.toContain(secret);
      // Successful bodies carry no credential fields at all (a 400 may echo a field a client sent).
      if (res.ok) expect(text).not.toMatch(/password|scrypt|pbkdf2|token_?hash|salt/i);
    }
  });
});
