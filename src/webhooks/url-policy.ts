/**
 * Where a webhook may be delivered (SSRF): `https://` only, no credentials in the URL, and never to
 * a private, loopback, link-local, unspecified, multicast, reserved or metadata address, however it
 * is spelled. The WHATWG URL parser already turns every IPv4 spelling (hex `0x7f.1`, decimal
 * `2130706433`, octal `0177.0.0.1`, short forms) into dotted decimal and IPv6 into its compressed
 * form, so the host is judged after parsing; ipaddr.js (the library behind Express's proxy-addr)
 * classifies the address, IPv4-mapped and NAT64 forms by the IPv4 address they carry.
 *
 * Checked when an endpoint is saved and again before each delivery. On Workers, fetch also runs with
 * `global_fetch_strictly_public`; on the Node host, the resolved address is checked at connect time
 * (src/node/webhook-transport.ts), so a name that later resolves to a private address (DNS
 * rebinding) is refused too.
 */
import ipaddr from "ipaddr.js";

/** `WEBHOOKS_ALLOW_LOOPBACK=true` (local development and tests only): http://localhost:PORT and 127.0.0.1. */
export type UrlPolicy = { allowLoopback: boolean };

export type UrlVerdict = { ok: true; url: URL } | { ok: false; reason: string };

const MAX_URL_LENGTH = 2048;
/** Names that only ever mean something inside a network, whatever they resolve to. */
const INTERNAL_SUFFIXES = [".localhost", ".local", ".internal", ".intranet", ".lan", ".home.arpa", ".corp"];
const INTERNAL_NAMES = new Set(["localhost", "metadata", "metadata.google.internal", "instance-data"]);

export function checkWebhookUrl(input: string, policy: UrlPolicy): UrlVerdict {
  if (input.length > MAX_URL_LENGTH) return refuse(`at most ${MAX_URL_LENGTH} characters`);
  if (!URL.canParse(input)) return refuse("an absolute URL such as https://hooks.example.com/edge-users");
  const url = new URL(input);
  if (url.username || url.password) return refuse("no credentials in the URL; the signature authenticates us");
  if (policy.allowLoopback && isLocalDevelopmentUrl(url)) return { ok: true, url };
  if (url.protocol !== "https:") return refuse("https:// only");
  const host = url.hostname
    .replace(/^\[|\]$/g, "")
    .toLowerCase()
    .replace(/\.$/, "");
  if (ipaddr.isValid(host)) {
    return isPublicAddress(host) ? { ok: true, url } : refuse(`${host} is not a public address`);
  }
  if (INTERNAL_NAMES.has(host) || INTERNAL_SUFFIXES.some((suffix) => host.endsWith(suffix))) {
    return refuse(`${host} is an internal name`);
  }
  if (!host.includes(".")) return refuse(`${host} is not a public host name`);
  return { ok: true, url };
}

/** True only for a globally routable unicast address (IPv4, IPv6, or IPv6 carrying an IPv4 one). */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === "ipv6") {
    const v6 = parsed as ipaddr.IPv6;
    const bytes = v6.toByteArray();
    if (v6.isIPv4MappedAddress()) parsed = v6.toIPv4Address();
    else if (bytes.slice(0, 12).every((byte) => byte === 0)) {
      // IPv4-compatible (::a.b.c.d, deprecated but still spelled): judged by the IPv4 address.
      parsed = new ipaddr.IPv4(bytes.slice(12));
    } else if (v6.range() === "rfc6052" || v6.range() === "rfc6145") {
      // NAT64 (64:ff9b::/96) and SIIT carry the IPv4 address in the last 32 bits.
      const bytes = v6.toByteArray().slice(12);
      parsed = new ipaddr.IPv4(bytes);
    }
  }
  if (parsed.range() !== "unicast") return false;
  // ipaddr.js calls these unicast; none is reachable on the public Internet.
  if (parsed.kind() === "ipv6") {
    const v6 = parsed as ipaddr.IPv6;
    return !v6.match(ipaddr.IPv6.parseCIDR("2001:db8::/32")) && !v6.match(ipaddr.IPv6.parseCIDR("100::/64"));
  }
  const v4 = parsed as ipaddr.IPv4;
  return !["192.0.0.0/24", "198.18.0.0/15", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"].some((cidr) =>
    v4.match(ipaddr.IPv4.parseCIDR(cidr)),
  );
}

function isLocalDevelopmentUrl(url: URL): boolean {
  return url.protocol === "http:" && (url.hostname === "localhost" || url.hostname === "127.0.0.1") && url.port !== "";
}

function refuse(reason: string): UrlVerdict {
  return { ok: false, reason };
}
