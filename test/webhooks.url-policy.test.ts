/**
 * Where a webhook may go (src/webhooks/url-policy.ts): https, no credentials, and no address a
 * request from inside our network could reach that the Internet cannot, in any spelling.
 */
import { describe, expect, it } from "vitest";
import { checkWebhookUrl, isPublicAddress } from "../src/webhooks/url-policy";

const strict = { allowLoopback: false };
const local = { allowLoopback: true };

describe("checkWebhookUrl", () => {
  it.each([
    "https://hooks.example.com/edge-users",
    "https://93.184.215.14/hook",
    "https://[2606:4700:4700::1111]/hook",
    "https://hooks.example.com:8443/x?y=1",
  ])("accepts %s", (url) => {
    expect(checkWebhookUrl(url, strict)).toMatchObject({ ok: true });
  });

  it.each([
    ["http://hooks.example.com/", "https:// only"],
    ["ftp://hooks.example.com/", "https:// only"],
    ["https://user:pass@hooks.example.com/", "no credentials"],
    ["https://token@hooks.example.com/", "no credentials"],
    ["not a url", "an absolute URL"],
    [`https://hooks.example.com/${"a".repeat(2100)}`, "at most 2048"],
  ])("refuses %s (%s)", (url, reason) => {
    const verdict = checkWebhookUrl(url, strict);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.reason).toContain(reason);
  });

  // Every family and every spelling the URL parser accepts for them.
  it.each([
    "https://127.0.0.1/",
    "https://127.1/",
    "https://0x7f.0.0.1/",
    "https://0x7f000001/",
    "https://2130706433/",
    "https://0177.0.0.1/",
    "https://017700000001/",
    "https://10.0.0.1/",
    "https://172.16.5.4/",
    "https://172.31.255.255/",
    "https://192.168.1.1/",
    "https://100.64.0.1/",
    "https://169.254.169.254/latest/meta-data/",
    "https://169.254.0.1/",
    "https://0.0.0.0/",
    "https://0/",
    "https://224.0.0.1/",
    "https://255.255.255.255/",
    "https://240.0.0.1/",
    "https://198.18.0.1/",
    "https://[::1]/",
    "https://[::]/",
    "https://[0:0:0:0:0:0:0:1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:7f00:1]/",
    "https://[::ffff:a9fe:a9fe]/",
    "https://[64:ff9b::a9fe:a9fe]/",
    "https://[::127.0.0.1]/",
    "https://[::a9fe:a9fe]/",
    "https://[::169.254.169.254]/",
    "https://[fc00::1]/",
    "https://[fd12:3456::1]/",
    "https://[fe80::1]/",
    "https://[ff02::1]/",
    "https://[2001:db8::1]/",
    "https://localhost/",
    "https://LOCALHOST./",
    "https://api.localhost/",
    "https://printer.local/",
    "https://metadata.google.internal/",
    "https://db.internal/",
    "https://intranet/",
  ])("refuses %s", (url) => {
    expect(checkWebhookUrl(url, strict).ok).toBe(false);
  });

  it("WEBHOOKS_ALLOW_LOOPBACK allows http://localhost:PORT and http://127.0.0.1:PORT, nothing more", () => {
    expect(checkWebhookUrl("http://localhost:9999/hook", local).ok).toBe(true);
    expect(checkWebhookUrl("http://127.0.0.1:9999/hook", local).ok).toBe(true);
    expect(checkWebhookUrl("http://localhost:9999/hook", strict).ok).toBe(false);
    for (const url of [
      "http://10.0.0.1:9999/",
      "http://[::1]:9999/",
      "http://localhost/",
      "https://169.254.169.254/",
    ]) {
      expect(checkWebhookUrl(url, local).ok).toBe(false);
    }
  });
});

describe("isPublicAddress", () => {
  it("judges resolved addresses (the Node host's connect-time check)", () => {
    expect(isPublicAddress("93.184.215.14")).toBe(true);
    expect(isPublicAddress("2606:4700:4700::1111")).toBe(true);
    expect(isPublicAddress("::ffff:93.184.215.14")).toBe(true);
    for (const address of ["127.0.0.1", "10.1.2.3", "::1", "::ffff:10.0.0.1", "fe80::1%eth0", "garbage", ""]) {
      expect(isPublicAddress(address)).toBe(false);
    }
  });
});
