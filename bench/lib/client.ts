/**
 * What every bench script does before it measures: call the service over HTTP (failing loudly on
 * any answer but a 2xx, so a broken setup never turns into a fast benchmark of error pages) and
 * seed a population of members, each signed in with a session of their own.
 */
import { request } from "node:http";
import autocannon from "autocannon";

export type Target = { url: URL; host: string };

export type CallOptions = {
  method?: string;
  body?: unknown;
  token?: string;
  /** The client address the service sees (rate limits key on it). */
  clientAddress?: string;
};

export async function call(
  { url, host }: Target,
  path: string,
  { method = "GET", body, token, clientAddress }: CallOptions = {},
): Promise<Record<string, unknown>> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  // node:http, not fetch: fetch drops a Host header, and Miniflare routes Workers by it.
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      new URL(path, url),
      {
        method,
        headers: {
          host,
          ...(payload === undefined ? {} : { "content-type": "application/json" }),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(clientAddress ? { "cf-connecting-ip": clientAddress } : {}),
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
  if (status < 200 || status > 299) throw new Error(`${method} ${path} answered ${status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** A signed-in member: its session token and the access token sign-in also answered. */
export type Member = { id: string; email: string; token: string; accessToken: string };

export type PopulationOptions = {
  size: number;
  /** Members are `<prefix><i>@<domain>`, username `<prefix><i>`. */
  domain: string;
  prefix?: string;
  password: string;
  /** Runs after the sign-ups and before the sign-ins (to make someone an admin, say). */
  beforeSignIn?: (members: Omit<Member, "token" | "accessToken">[]) => Promise<void>;
};

/** Signs up `size` members, then signs each in; every call from its own client address. */
export async function seedPopulation(
  target: Target,
  { size, domain, prefix = "reader", password, beforeSignIn }: PopulationOptions,
): Promise<Member[]> {
  const signedUp: Omit<Member, "token" | "accessToken">[] = [];
  for (let i = 0; i < size; i++) {
    const email = `${prefix}${i}@${domain}`;
    const user = await call(target, "/api/users", {
      method: "POST",
      body: { email, username: `${prefix}${i}`, name: `Member ${i}`, password },
      clientAddress: `198.18.1.${i}`,
    });
    signedUp.push({ id: String(user.id), email });
  }
  await beforeSignIn?.(signedUp);
  const members: Member[] = [];
  for (const [i, member] of signedUp.entries()) {
    const { token, accessToken } = await call(target, "/api/auth/login", {
      method: "POST",
      body: { email: member.email, password },
      clientAddress: `198.18.2.${i}`,
    });
    members.push({ ...member, token: String(token), accessToken: String(accessToken) });
  }
  return members;
}

/**
 * autocannon as a promise. It samples every 100 ms instead of its default second: a run ends only
 * at a sample, so with the default every run idled up to a second after its last answer.
 */
export function runAutocannon(options: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon({ sampleInt: 100, ...options }, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

/** a / b to two decimals, as every "× the ceiling" figure is reported. */
export function ratio(a: number, b: number): number {
  return Number((a / b).toFixed(2));
}
