import { utf8 } from "../lib/encoding";
import { BreachedPasswordError, rootCauseMessage } from "../lib/errors";
import { log } from "../lib/log";

/**
 * "A new password is not one from a known breach": Have I Been Pwned's Pwned Passwords, asked by
 * k-anonymity. Only the first 5 hex characters of the password's SHA-1 leave the service; the
 * range API answers every suffix it knows under that prefix (with `Add-Padding: true`, padded with
 * count-0 decoys to a uniform size, so the answer's length says nothing either), and the match is
 * made here.
 *
 * When the API cannot answer (down, slow, not a 200) the check fails open: the password is accepted,
 * a warning is logged and the request records `breach_check_unavailable` (an Analytics Engine data
 * point). A dependency outside our control must not stop sign-up or a reset, and the password still
 * meets the length rules; the log and the data point make an outage visible rather than silent.
 */
export type BreachCheck = {
  /** Throws BreachedPasswordError when `password` is in the breach corpus; resolves otherwise. */
  refuseIfBreached(password: string): Promise<void>;
};

/** PASSWORD_BREACH_CHECK=off: every password passes, nothing is fetched. */
export const breachCheckOff: BreachCheck = { refuseIfBreached: async () => {} };

export type BreachCheckOptions = {
  /** The range API's origin, without a trailing slash (PASSWORD_BREACH_API_URL). */
  apiUrl: string;
  /** Called when the API did not answer and a password was let through unchecked. */
  onFailOpen?: (event: "breach_check_unavailable") => void;
};

/** Longer than the API's usual answer from Cloudflare's cache (tens of ms), short enough for a sign-up. */
const BREACH_CHECK_TIMEOUT_MS = 1000;

export function createBreachCheck({ apiUrl, onFailOpen }: BreachCheckOptions): BreachCheck {
  return {
    async refuseIfBreached(password) {
      const digest = await sha1Hex(password);
      const prefix = digest.slice(0, 5);
      const range = await fetchRange(prefix);
      if (range === null) {
        onFailOpen?.("breach_check_unavailable");
        return;
      }
      if (isListed(range, digest.slice(5))) throw new BreachedPasswordError();
    },
  };

  // The range of suffixes under `prefix`, or null (logged) when the API could not give it in time.
  async function fetchRange(prefix: string): Promise<string | null> {
    const started = performance.now();
    try {
      // The signal covers the body too: a response that stalls mid-way times out as well.
      const response = await fetch(`${apiUrl}/range/${prefix}`, {
        headers: { "Add-Padding": "true" },
        signal: AbortSignal.timeout(BREACH_CHECK_TIMEOUT_MS),
      });
      if (response.status !== 200) {
        await response.body?.cancel();
        return unavailable(`range API answered ${response.status}`, started);
      }
      return await response.text();
    } catch (error) {
      // Fail open, deliberately (see above): the error is logged and counted, not swallowed.
      return unavailable(rootCauseMessage(error), started);
    }
  }

  function unavailable(reason: string, started: number): null {
    log("warn", "password breach check unavailable; the password was accepted unchecked", {
      reason,
      durationMs: Math.round(performance.now() - started),
    });
    return null;
  }
}

// `SUFFIX:COUNT` lines; padding entries have a count of 0 and are no match.
function isListed(range: string, suffix: string): boolean {
  for (const line of range.split("\n")) {
    const colon = line.indexOf(":");
    if (colon !== suffix.length || line.slice(0, colon).toUpperCase() !== suffix) continue;
    return Number.parseInt(line.slice(colon + 1), 10) > 0;
  }
  return false;
}

async function sha1Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", utf8(text)));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0"))
    .join("")
    .toUpperCase();
}
