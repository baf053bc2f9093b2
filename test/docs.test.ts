import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, BASE } from "./helpers/http";

/** A GET routed as Workers routes it: a static asset when one matches the path, else the Worker. */
async function get(path: string): Promise<Response> {
  const asset = await env.ASSETS.fetch(new Request(new URL(path, BASE)));
  if (asset.status !== 404) return asset;
  await asset.arrayBuffer();
  return api("GET", path);
}

/** The URLs a page loads: script and stylesheet sources, images, and anything else with src/href. */
function referencedUrls(html: string): string[] {
  return [...html.matchAll(/\s(?:src|href|data-url)\s*=\s*["']([^"']+)["']/gi)].map((match) => match[1] as string);
}

describe("GET /docs works with no network", () => {
  it("references only same-origin URLs, and each of them is served", async () => {
    // Routed like any request: no static file may stand in for the page (it would lose its CSP).
    const res = await get("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(res.headers.get("Content-Security-Policy")).toContain("script-src 'self'");
    const html = await res.text();
    const urls = referencedUrls(html);
    expect(urls).toEqual(expect.arrayContaining(["/openapi.json", expect.stringMatching(/^\/docs\/assets\//)]));
    for (const url of urls) {
      // A path on this origin: not another host, not protocol-relative.
      expect(new URL(url, BASE).origin).toBe(BASE);
      expect(url).toMatch(/^\/(?!\/)/);
      const asset = await get(url);
      expect([url, asset.status]).toEqual([url, 200]);
      await asset.arrayBuffer();
    }
    expect(html).not.toMatch(/https?:\/\//);
  });

  it("its CSP allows scripts and requests to this origin only, and no inline script", async () => {
    const csp = (await api("GET", "/docs")).headers.get("Content-Security-Policy") ?? "";
    const directives = Object.fromEntries(
      csp
        .split(";")
        .map((d) => d.trim().split(/\s+/))
        .map(([k, ...v]) => [k, v]),
    );
    expect(directives["default-src"]).toEqual(["'none'"]);
    expect(directives["script-src"]).toEqual(["'self'"]);
    expect(directives["connect-src"]).toEqual(["'self'"]);
    expect(directives["frame-ancestors"]).toEqual(["'none'"]);
    expect(csp).not.toMatch(/https?:|\*|unsafe-eval/);
  });

  it("the API reference script is served with long caching and nosniff", async () => {
    const html = await (await api("GET", "/docs")).text();
    const script = referencedUrls(html).find((url) => url.startsWith("/docs/assets/")) as string;
    const res = await get(script);
    expect(res.headers.get("Content-Type")).toMatch(/javascript/);
    expect(res.headers.get("Cache-Control")).toBe("public, max-age=31536000, immutable");
    expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
    expect((await res.text()).length).toBeGreaterThan(100_000);
  });
});
