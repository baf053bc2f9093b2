/**
 * A stand-in for Have I Been Pwned's Pwned Passwords range API, the remote part of the breach check
 * (src/passwords/breach.ts): vitest.config.ts points PASSWORD_BREACH_API_URL here, so a test that
 * turns PASSWORD_BREACH_CHECK on reaches this instead of the network. Like the real API it answers
 * `GET /range/{prefix}` with `SUFFIX:COUNT` lines, padded with count-0 entries when asked with
 * `Add-Padding: true`. Tests mark passwords as breached, read every request it got, and make it fail.
 */
export const PWNED_PASSWORDS_URL = "https://pwned-passwords.test";

export type RangeRequest = { method: string; url: string; path: string; addPadding: string | null };

/** How the stand-in answers while an outage is set: a status, a network error, or no answer at all. */
export type Outage = { status: number } | "network-error" | "no-answer";

type State = {
  /** SHA-1 (upper-case hex) → count; a count of 0 is a padding entry. */
  corpus: Map<string, number>;
  requests: RangeRequest[];
  outage: Outage | null;
  installed: boolean;
};
// One per isolate (each test file has its own), whichever module instance installs it.
const holder = globalThis as { __pwnedPasswords?: State };
holder.__pwnedPasswords ??= { corpus: new Map(), requests: [], outage: null, installed: false };
const state: State = holder.__pwnedPasswords;

const PADDING_ENTRIES = 800;

/** Routes PASSWORD_BREACH_API_URL to the stand-in; every other fetch goes where it was going. */
export function installPwnedPasswords() {
  if (state.installed) return;
  state.installed = true;
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const request = new Request(input, init);
    if (!request.url.startsWith(`${PWNED_PASSWORDS_URL}/`)) return realFetch(input, init);
    const path = new URL(request.url).pathname;
    state.requests.push({
      method: request.method,
      url: request.url,
      path,
      addPadding: request.headers.get("Add-Padding"),
    });
    const outage = state.outage;
    if (outage === "network-error") throw new TypeError("fetch failed: connection refused");
    if (outage === "no-answer") {
      const signal = init?.signal ?? request.signal;
      return new Promise<Response>((_, reject) => {
        signal?.addEventListener("abort", () => reject(signal.reason));
      });
    }
    if (outage) return new Response("upstream trouble", { status: outage.status });
    const prefix = /^\/range\/([0-9A-F]{5})$/.exec(path)?.[1];
    if (!prefix) return new Response("The hash prefix was not in a valid format", { status: 400 });
    const lines = [...state.corpus]
      .filter(([hash]) => hash.startsWith(prefix))
      .map(([hash, count]) => `${hash.slice(5)}:${count}`);
    if (request.headers.get("Add-Padding") === "true") {
      for (let i = 0; i < PADDING_ENTRIES; i++) lines.push(`${randomSuffix()}:0`);
    }
    return new Response(lines.join("\r\n"), { headers: { "Content-Type": "text/plain" } });
  };
}

export const pwnedPasswords = {
  /** The range API knows these passwords, each seen `count` times. */
  async breach(count: number, ...passwords: string[]) {
    for (const password of passwords) state.corpus.set(await sha1Hex(password), count);
  },
  /** These passwords' suffixes come back as padding (count 0): not a breach. */
  async padWith(...passwords: string[]) {
    await pwnedPasswords.breach(0, ...passwords);
  },
  /** Every request that reached the stand-in, oldest first. */
  requests: () => [...state.requests],
  /** Until `restore`, every request meets this outage. */
  fail(outage: Outage) {
    state.outage = outage;
  },
  restore() {
    state.outage = null;
  },
};

export async function sha1Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text)));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0"))
    .join("")
    .toUpperCase();
}

function randomSuffix(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0"))
    .join("")
    .slice(0, 35)
    .toUpperCase();
}
