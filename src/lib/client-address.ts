import {
  convertIPv4BinaryToString,
  convertIPv4MappedIPv6ToIPv4,
  convertIPv6BinaryToString,
  convertIPv6ToBinary,
  distinctRemoteAddr,
  isIPv4MappedIPv6,
} from "hono/utils/ipaddr";

/**
 * The client's address as Cloudflare saw it (`CF-Connecting-IP`; on Node, the socket's), as a
 * rate-limit key. An IPv4 address is kept whole, also when it arrives IPv4-mapped (`::ffff:1.2.3.4`,
 * what a Node server listening on `::` reports for IPv4 clients). Any other IPv6 address counts as
 * its /64, the block one subscriber usually holds, so rotating through it buys no fresh limits.
 */
export function clientAddressKey(header: string | undefined): string {
  if (!header) return "unknown";
  if (distinctRemoteAddr(header) !== "IPv6") return header.slice(0, 64);
  let address: bigint;
  try {
    address = convertIPv6ToBinary(header);
  } catch {
    return header.slice(0, 64);
  }
  if (isIPv4MappedIPv6(address)) return convertIPv4BinaryToString(convertIPv4MappedIPv6ToIPv4(address));
  return `${convertIPv6BinaryToString((address >> 64n) << 64n)}/64`;
}

/** The client's address as sent (`CF-Connecting-IP`), for the record; null when it is not an address. */
export function clientIp(header: string | undefined): string | null {
  if (!header || header.length > 45) return null;
  if (distinctRemoteAddr(header) === "IPv4") return header;
  try {
    convertIPv6ToBinary(header);
    return header;
  } catch {
    return null;
  }
}
