/**
 * The Node host's webhook transport checks the address it connects to, not only the URL: a name
 * that resolves to a non-public address is refused at connect time (DNS rebinding).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeWebhookTransport } from "../../src/node/webhook-transport";

describe("nodeWebhookTransport", () => {
  let server: Server;
  let port = 0;
  const received: string[] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk) => (body += chunk));
      request.on("end", () => {
        received.push(body);
        response.writeHead(204, { "Retry-After": "7" }).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(() => server.close());

  const init = () => ({
    method: "POST" as const,
    headers: { "Content-Type": "application/json" },
    body: '{"n":1}',
    signal: AbortSignal.timeout(5_000),
  });

  it("a name that resolves to a loopback address is refused at connect time; nothing arrives", async () => {
    const transport = nodeWebhookTransport({ allowLoopback: false });
    await expect(transport(new URL(`http://localhost:${port}/hook`), init())).rejects.toThrow(
      "localhost resolves to an address that is not public",
    );
    expect(received).toEqual([]);
  });

  it("with WEBHOOKS_ALLOW_LOOPBACK, localhost is reached; status and headers come back, the body is not read", async () => {
    const transport = nodeWebhookTransport({ allowLoopback: true });
    const response = await transport(new URL(`http://localhost:${port}/hook`), init());
    expect(response.status).toBe(204);
    expect(response.headers.get("retry-after")).toBe("7");
    expect(received).toEqual(['{"n":1}']);
  });
});
