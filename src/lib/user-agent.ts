/** The longest User-Agent the service keeps (the session list, security events). */
const USER_AGENT_MAX_LENGTH = 256;

/**
 * Printable characters only, whitespace collapsed, at most 256: what a client sends is shown back
 * (the session list, recent activity) and stored, so nothing else of it is.
 */
export function cleanUserAgent(header: string | undefined): string | null {
  const clean = (header ?? "")
    .replace(/[^\x20-\x7E\u00A0-\uFFFF]/gu, " ")
    .replace(/[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}]/gu, "")
    .replace(/\s+/g, " ")
    .trim()
    .slice(0, USER_AGENT_MAX_LENGTH);
  return clean || null;
}
