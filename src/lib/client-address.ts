/**
 * The client's address as Cloudflare saw it (`CF-Connecting-IP`), as a rate-limit key: an IPv6
 * address counts as its /64, the block one subscriber usually holds, so rotating through it does
 * not buy fresh limits. IPv4 addresses are kept whole.
 */
export function clientAddressKey(header: string | undefined): string {
  if (!header) return "unknown";
  if (!header.includes(":")) return header;
  return `${expandIpv6(header).slice(0, 4).join(":")}::/64`;
}

function expandIpv6(address: string): string[] {
  const [head = "", tail] = address.toLowerCase().split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const missing = tail === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...Array<string>(Math.max(0, missing)).fill("0"), ...right].map((group) =>
    group.replace(/^0+(?=.)/, ""),
  );
}
