/**
 * TRUSTED_PROXIES on the Node host (src/node/client-address.ts): X-Forwarded-For is read only from
 * a trusted proxy, right to left past trusted hops; from anyone else the socket's address stands.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientAddressOf, NO_TRUSTED_PROXIES, parseTrustedProxies } from "../../src/node/client-address";
import { readMigrations } from "../../src/node/migrations";
import { startNodeServer } from "../../src/node/server";
import { TEST_APP_SECRET } from "../suites/constants";

describe("parseTrustedProxies", () => {
  it("reads IPv4 and IPv6 CIDRs and single addresses; empty is none", () => {
    const trusted = parseTrustedProxies(" 10.0.0.0/8, fd00::/8 ,192.0.2.7");
    expect(trusted.count).toBe(3);
    expect(trusted.check("10.1.2.3")).toBe(true);
    expect(trusted.check("::ffff:10.1.2.3")).toBe(true);
    expect(trusted.check("fd12::1")).toBe(true);
    expect(trusted.check("192.0.2.7")).toBe(true);
    expect(trusted.check("192.0.2.8")).toBe(false);
    expect(trusted.check("11.0.0.1")).toBe(false);
    expect(trusted.check("not an address")).toBe(false);
    expect(parseTrustedProxies(undefined).count).toBe(0);
    expect(parseTrustedProxies(" , ").count).toBe(0);
  });

  it.each(["10.0.0.0/33", "10.0.0/8", "fd00::/129", "example.com", "10.0.0.0/8/1", "10.0.0.0/x", "*"])(
    "refuses %s, naming it",
    (value) => {
      expect(() => parseTrustedProxies(value)).toThrow(`TRUSTED_PROXIES: "${value}" is not an address or a CIDR range`);
    },
  );
});

it("npm run start:node stops at once on a bad TRUSTED_PROXIES, naming it", () => {
  const run = spawnSync("npm", ["run", "--silent", "start:node", "--", "--port", "0"], {
    encoding: "utf8",
    env: { ...process.env, TRUSTED_PROXIES: "10.0.0.0/8,proxy.internal", LIBSQL_URL: "file::memory:" },
    timeout: 60_000,
  });
  expect(run.status).toBe(1);
  expect(run.stdout + run.stderr).toContain('TRUSTED_PROXIES: \\"proxy.internal\\" is not an address or a CIDR range');
});

describe("clientAddressOf", () => {
  const trusted = parseTrustedProxies("10.0.0.0/8");

  it("without trusted proxies, the socket's address whatever X-Forwarded-For says", () => {
    expect(clientAddressOf("10.0.0.5", ["198.51.100.1"], NO_TRUSTED_PROXIES)).toBe("10.0.0.5");
  });

  it("from an untrusted socket, X-Forwarded-For is ignored", () => {
    expect(clientAddressOf("203.0.113.9", ["198.51.100.1"], trusted)).toBe("203.0.113.9");
  });

  it("from a trusted proxy, the rightmost address that is not a trusted hop", () => {
    // A client that forges a first entry gains nothing: the proxies append the real one.
    expect(clientAddressOf("10.0.0.5", ["1.2.3.4, 198.51.100.1, 10.0.0.9"], trusted)).toBe("198.51.100.1");
    expect(clientAddressOf("::ffff:10.0.0.5", ["198.51.100.1"], trusted)).toBe("198.51.100.1");
    // Several headers count as one list, in order.
    expect(clientAddressOf("10.0.0.5", ["198.51.100.1", "10.0.0.9"], trusted)).toBe("198.51.100.1");
  });

  it("all hops trusted: the leftmost; none given: the proxy itself; garbage ends the walk", () => {
    expect(clientAddressOf("10.0.0.5", ["10.0.0.7, 10.0.0.8"], trusted)).toBe("10.0.0.7");
    expect(clientAddressOf("10.0.0.5", [], trusted)).toBe("10.0.0.5");
    expect(clientAddressOf("10.0.0.5", ["198.51.100.1, <script>"], trusted)).toBe("10.0.0.5");
  });
});

describe("the Node host behind a trusted reverse proxy", () => {
  const dir = mkdtempSync(join(tmpdir(), "edge-users-proxy-"));
  const servers: Awaited<ReturnType<typeof startNodeServer>>[] = [];
  const previousSecret = process.env.APP_SECRET;

  async function serve(trustedProxies = NO_TRUSTED_PROXIES) {
    const client = createClient({ url: `file:${join(dir, `db-${servers.length}.db`)}` });
    const node = await startNodeServer({ client, migrations: readMigrations(), port: 0, trustedProxies });
    servers.push(node);
    await new Promise((resolve) => node.server.once("listening", resolve));
    return `http://127.0.0.1:${(node.server.address() as AddressInfo).port}`;
  }

  async function signUps(base: string, forwardedFor: (i: number) => string) {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      const res = await fetch(`${base}/api/users`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Forwarded-For": forwardedFor(i) },
        body: JSON.stringify({
          email: `p${i}@example.com`,
          username: `proxied_${i}`,
          name: "P",
          password: "a proxied passphrase",
        }),
      });
      statuses.push(res.status);
    }
    return statuses;
  }

  beforeAll(() => {
    process.env.APP_SECRET = TEST_APP_SECRET;
  });

  afterAll(() => {
    for (const node of servers) node.close();
    rmSync(dir, { recursive: true, force: true });
    process.env.APP_SECRET = previousSecret;
  });

  it("TRUSTED_PROXIES=127.0.0.1: each client behind the proxy has its own limits", async () => {
    const base = await serve(parseTrustedProxies("127.0.0.1/32"));
    expect(await signUps(base, (i) => `198.51.100.${i + 1}`)).toEqual([201, 201, 201, 201, 201, 201, 201]);
  });

  it("off (the default): one address for everyone behind the proxy, as before", async () => {
    const base = await serve();
    const statuses = await signUps(base, (i) => `198.51.100.${i + 1}`);
    expect(statuses.slice(0, 5)).toEqual([201, 201, 201, 201, 201]);
    expect(statuses.slice(5)).toContain(429);
  });
});
