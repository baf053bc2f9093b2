/**
 * The client's address on the Node host. With no trusted proxies (the default), the socket's
 * address, whatever the request says. With `TRUSTED_PROXIES` (comma-separated CIDRs, e.g.
 * `10.0.0.0/8,fd00::/8`), a request whose socket is one of them is read through its
 * `X-Forwarded-For`: right to left, past every trusted hop, the first address that is not one is
 * the client. Nobody else's `X-Forwarded-For` is read, so a client cannot choose its own address.
 * Built on node:net's BlockList (CIDR matching for IPv4 and IPv6).
 */
import { BlockList, isIP } from "node:net";

export type TrustedProxies = { readonly check: (address: string) => boolean; readonly count: number };

/** No proxy is trusted: the socket's address is the client's. */
export const NO_TRUSTED_PROXIES: TrustedProxies = { check: () => false, count: 0 };

/** Parses `TRUSTED_PROXIES`; throws, naming the bad entry, on anything that is not a CIDR or an address. */
export function parseTrustedProxies(value: string | undefined): TrustedProxies {
  const entries = (value ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length === 0) return NO_TRUSTED_PROXIES;
  if (entries.length > 64) throw new Error("TRUSTED_PROXIES lists more than 64 ranges");
  const list = new BlockList();
  for (const entry of entries) {
    const [address = "", prefix, ...rest] = entry.split("/");
    const family = isIP(address);
    const bits = prefix === undefined ? (family === 6 ? 128 : 32) : Number(prefix);
    const max = family === 6 ? 128 : 32;
    if (family === 0 || rest.length > 0 || !/^\d{0,3}$/.test(prefix ?? "") || !(bits >= 0 && bits <= max)) {
      throw new Error(`TRUSTED_PROXIES: "${entry}" is not an address or a CIDR range such as 10.0.0.0/8 or fd00::/8`);
    }
    list.addSubnet(address, bits, family === 6 ? "ipv6" : "ipv4");
  }
  return { check: (address) => inList(list, address), count: entries.length };
}

function inList(list: BlockList, address: string): boolean {
  const plain = unmapped(address);
  const family = isIP(plain);
  return family !== 0 && list.check(plain, family === 6 ? "ipv6" : "ipv4");
}

/** `::ffff:10.0.0.1` (how a dual-stack socket reports an IPv4 peer) is 10.0.0.1. */
function unmapped(address: string): string {
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) ? address.slice(7) : address;
}

/**
 * The client of a request from `socketAddress` carrying `forwardedFor` (every X-Forwarded-For
 * header's value, in order). An entry that is not an address ends the walk: the hop that reported
 * it is the client as far as anyone trustworthy knows.
 */
export function clientAddressOf(
  socketAddress: string | undefined,
  forwardedFor: readonly string[],
  trusted: TrustedProxies,
): string {
  let client = unmapped(socketAddress ?? "unknown");
  if (!trusted.check(client)) return client;
  const hops = forwardedFor
    .join(",")
    .split(",")
    .map((hop) => hop.trim())
    .filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = unmapped(hops[i] ?? "");
    if (isIP(hop) === 0) break;
    client = hop;
    if (!trusted.check(hop)) break;
  }
  return client;
}
