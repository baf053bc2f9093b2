/**
 * HTTP validators for user representations (RFC 9110 §8.8, §13). The entity tag comes from the
 * row's version, not from hashing the body, so a cached copy can be validated without rendering
 * it. The two views of a user are different representations and get different tags.
 */
export type View = "full" | "public";

function entityTag(version: number, view: View): string {
  return view === "full" ? `"v${version}"` : `"v${version}-public"`;
}

/** Headers every user representation carries: its tag, how it may be cached, what it varies on. */
export function representationHeaders(version: number, view: View, publicMaxAgeSeconds: number) {
  return {
    ETag: entityTag(version, view),
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
