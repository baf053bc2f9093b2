/**
 * HTTP validators (RFC 9110 §8.8, §13). A private representation's tag is the row's version
 * (`"v3"`), which If-Match compares against in the write itself. A public one's tag is a hash of
 * exactly the fields it shows (`"p…"`), so it changes when, and only when, what anyone can see
 * changes: a password, email, role or status change leaves it alone. Neither needs the body
 * rendered, so a cached copy is validated as cheaply as it is served.
 */
export type View = "full" | "public";

/** The tag of a representation that carries the row's version. */
export function versionTag(version: number): string {
  return `"v${version}"`;
}

/** The tag of a representation made of `fields`: FNV-1a over two 32-bit lanes, 64 bits in hex. */
export function contentTag(fields: readonly (string | number)[]): string {
  const text = fields.join("\u0000");
  let low = 0x811c9dc5;
  let high = 0x6c62272e;
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    low = Math.imul(low ^ unit, 0x01000193);
    high = Math.imul(high ^ unit, 0x01000193);
  }
  return `"p${(high >>> 0).toString(16).padStart(8, "0")}${(low >>> 0).toString(16).padStart(8, "0")}"`;
}

/** Headers every user representation carries: its tag, how it may be cached, what it varies on. */
export function representationHeaders(tag: string, view: View, publicMaxAgeSeconds: number) {
  return {
    ETag: tag,
    "Cache-Control": view === "public" ? `public, max-age=${publicMaxAgeSeconds}` : "private, no-store",
    Vary: "Authorization",
  };
}

/** If-None-Match uses the weak comparison: W/"v1" matches "v1"; `*` matches any representation. */
export function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag);
}

/**
 * How many entity tags an If-Match may list. The versions a write accepts become a bounded list
 * in its SQL (D1 binds at most 100 values a statement); a client naming more than a handful of
 * versions of one user is not making a precondition, so more is a 400.
 */
export const MAX_IF_MATCH_TAGS = 16;

/**
 * If-Match uses the strong comparison against the full view's tags, which carry the version.
 * Undefined: no precondition (absent, or `*`, which any existing user satisfies). An empty list:
 * nothing the client sent can match, so the write must fail with 412. At most MAX_IF_MATCH_TAGS
 * versions, without repeats (the route's header schema refuses longer lists).
 */
export function versionsFromIfMatch(header: string | undefined): { versions: number[] } | undefined {
  if (header === undefined || header.trim() === "*") return undefined;
  const versions = new Set<number>();
  for (const tag of header.split(",").slice(0, MAX_IF_MATCH_TAGS)) {
    const version = /^"v(\d{1,15})"$/.exec(tag.trim())?.[1];
    if (version !== undefined) versions.add(Number(version));
  }
  return { versions: [...versions] };
}
