/**
 * Webhook requests from the Node host, with the address checked where it is used: the lookup
 * that `http(s).request` connects with refuses a name that resolves to any non-public address, so
 * a host name that passed the URL policy and then re-points at 10.0.0.1 or 169.254.169.254 (DNS
 * rebinding) is never reached. (Workers get the same from `global_fetch_strictly_public`.)
 */
import { type LookupAddress, lookup } from "node:dns";
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import type { WebhookTransport } from "../webhooks/attempt";
import { isPublicAddress, type UrlPolicy } from "../webhooks/url-policy";

export function nodeWebhookTransport(policy: UrlPolicy): WebhookTransport {
  const checkedLookup = publicOnlyLookup(policy);
  return (url, init) =>
    new Promise((resolve, reject) => {
      const client = url.protocol === "https:" ? https : http;
      const request = client.request(
        url,
        { method: init.method, headers: init.headers, signal: init.signal, lookup: checkedLookup },
        (response) => {
          response.resume(); // the body is never read
          const headers = new Headers();
          for (const [name, value] of Object.entries(response.headers)) {
            if (typeof value === "string") headers.set(name, value);
          }
          resolve({ status: response.statusCode ?? 0, headers });
        },
      );
      request.on("error", reject);
      request.end(init.body);
    });
}

function publicOnlyLookup(policy: UrlPolicy): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, "", 0);
      const list = addresses as unknown as LookupAddress[];
      const allowed = list.filter(
        ({ address }) => isPublicAddress(address) || (policy.allowLoopback && isLoopback(hostname, address)),
      );
      if (allowed.length === 0 || allowed.length !== list.length) {
        const refusal = Object.assign(new Error(`${hostname} resolves to an address that is not public`), {
          code: "ENOTPUBLIC",
        });
        return callback(refusal, "", 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
      const [first] = allowed;
      callback(null, first?.address ?? "", first?.family ?? 4);
    });
  };
}

function isLoopback(hostname: string, address: string): boolean {
  return (hostname === "localhost" || hostname === "127.0.0.1") && (address === "127.0.0.1" || address === "::1");
}
