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
 * If-Match uses the strong comparison against the full view's tags, which carry the version.
 * Undefined: no precondition (absent, or `*`, which any existing user satisfies). An empty list:
 * nothing the client sent can match, so the write must fail with 412.
 */
export function versionsFromIfMatch(header: string | undefined): { versions: number[] } | undefined {
  if (header === undefined || header.trim() === "*") return undefined;
  const versions = header
    .split(",")
    .map((tag) => /^"v(\d{1,15})"$/.exec(tag.trim())?.[1])
    .filter((version): version is string => version !== undefined)
    .map(Number);
  return { versions };
}
