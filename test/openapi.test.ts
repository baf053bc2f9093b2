import { describe, expect, it } from "vitest";
import { checkAgainstDocument } from "./helpers/contract";
import { api } from "./helpers/http";

type Operation = {
  security?: unknown[];
  parameters?: { name: string; in: string; required?: boolean }[];
  responses: Record<string, { content?: Record<string, unknown> }>;
};
type Document = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: {
    securitySchemes: Record<string, unknown>;
    schemas: Record<string, { required?: string[]; additionalProperties?: unknown }>;
  };
  info: { description: string; version: string };
};

async function document(): Promise<Document> {
  const res = await api("GET", "/openapi.json");
  expect(res.status).toBe(200);
  return (await res.json()) as Document;
}

describe("GET /openapi.json", () => {
  it("is OpenAPI 3.1 and lists every route of the contract", async () => {
    const doc = await document();
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.info.version).toBe("1.1.0");
    const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(operations).toEqual(
      expect.arrayContaining([
        "GET /health",
        "GET /ready",
        "POST /api/users",
        "GET /api/users",
        "GET /api/users/{id}",
        "PATCH /api/users/{id}",
        "DELETE /api/users/{id}",
        "POST /api/auth/login",
        "POST /api/auth/logout",
        "GET /api/auth/me",
        "POST /api/auth/token",
        "GET /api/auth/sessions",
        "DELETE /api/auth/sessions",
        "DELETE /api/auth/sessions/{id}",
        "GET /.well-known/jwks.json",
        "GET /.well-known/openid-configuration",
      ]),
    );
  });

  it("declares bearer security, used by the authenticated routes", async () => {
    const doc = await document();
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.paths["/api/auth/me"]?.get?.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths["/api/users"]?.get?.security).toEqual([{ bearerAuth: [] }]);
  });

  it("names each schema once, for one thing: the sign-in answer is SignIn, a listed session is Session", async () => {
    const doc = await document();
    const ref = (content: unknown) => JSON.stringify(content);
    expect(ref(doc.paths["/api/auth/login"]?.post?.responses["200"]?.content)).toContain("#/components/schemas/SignIn");
    expect(doc.components.schemas.SignIn?.required).toEqual(expect.arrayContaining(["token", "accessToken", "user"]));
    expect(ref(doc.components.schemas.SessionList)).toContain("#/components/schemas/Session");
    expect(doc.components.schemas.Session?.required).toEqual(expect.arrayContaining(["id", "current", "userAgent"]));
    expect(ref(doc.components.schemas.Session)).not.toContain('"token"');
  });

  it("documents problem+json error responses", async () => {
    const doc = await document();
    const patch = doc.paths["/api/users/{id}"]?.patch;
    for (const status of ["400", "401", "403", "404", "409", "422", "500"]) {
      expect(patch?.responses[status]?.content).toHaveProperty(["application/problem+json"]);
    }
    expect(doc.info.description).toContain("/problems/validation");
  });

  it("documents the validators: 304 on reads, 412 on conditional writes", async () => {
    const doc = await document();
    expect(doc.paths["/api/users/{id}"]?.get?.responses).toHaveProperty("304");
    expect(doc.paths["/api/users/{id}"]?.get?.parameters).toContainEqual(
      expect.objectContaining({ name: "If-None-Match", in: "header", required: false }),
    );
    expect(doc.paths["/api/users/{id}"]?.patch?.parameters).toContainEqual(
      expect.objectContaining({ name: "if-match", in: "header" }),
    );
    expect(doc.paths["/api/users/{id}"]?.patch?.responses).toHaveProperty("412");
    expect(doc.paths["/api/users/{id}"]?.delete?.responses).toHaveProperty("412");
  });

  it("request schemas are the validating ones: strict, with the contract's required fields", async () => {
    const doc = await document();
    expect(doc.components.schemas.CreateUser).toMatchObject({
      required: expect.arrayContaining(["email", "username", "name", "password"]),
      additionalProperties: false,
    });
    expect(doc.components.schemas.UpdateUser).toMatchObject({ additionalProperties: false });
    expect(JSON.stringify(doc.components.schemas.User)).not.toMatch(/password/i);
  });
});

describe("GET /docs", () => {
  it("serves an API reference page for /openapi.json", async () => {
    const res = await api("GET", "/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(await res.text()).toContain("/openapi.json");
  });
});

describe("the document's patterns", () => {
  type Node = Record<string, unknown>;
  // Every object in the document that carries a `pattern`, with where it is and its own example.
  function patterned(node: unknown, path: string, found: { path: string; pattern: string; examples: unknown[] }[]) {
    if (!node || typeof node !== "object") return found;
    if (Array.isArray(node)) {
      for (const [index, item] of node.entries()) patterned(item, `${path}/${index}`, found);
      return found;
    }
    const schema = node as Node;
    if (typeof schema.pattern === "string") {
      found.push({
        path,
        pattern: schema.pattern,
        examples: [schema.example, ...((schema.examples as unknown[]) ?? [])],
      });
    }
    // An object's example holds examples for its properties too.
    const properties = schema.properties as Record<string, Node> | undefined;
    const example = schema.example as Node | undefined;
    if (properties && example && typeof example === "object") {
      for (const [name, property] of Object.entries(properties)) {
        if (typeof property.pattern === "string" && name in example) {
          found.push({ path: `${path}/example/${name}`, pattern: property.pattern, examples: [example[name]] });
        }
      }
    }
    for (const [key, value] of Object.entries(schema)) patterned(value, `${path}/${key}`, found);
    return found;
  }

  it("each is a valid ECMA-262 pattern, with and without the u flag, that accepts the document's own examples", async () => {
    const found = patterned(await document(), "", []);
    expect(found.length).toBeGreaterThan(0);
    for (const { path, pattern, examples } of found) {
      for (const flags of ["u", ""]) {
        const regex = new RegExp(pattern, flags);
        for (const example of examples.filter((value) => typeof value === "string")) {
          expect([path, flags, regex.test(example as string)]).toEqual([path, flags, true]);
        }
      }
    }
  });

  it("the display-name pattern refuses what the API refuses, and says the whole rule", async () => {
    const doc = await document();
    const name = (doc.components.schemas.CreateUser as unknown as { properties: { name: Node } }).properties.name;
    const regex = new RegExp(name.pattern as string, "u");
    expect(regex.test("Ann Lee")).toBe(true);
    expect(regex.test("\u202Enimda\u202C Support")).toBe(false);
    expect(regex.test("Ann\u200BLee")).toBe(false);
    expect(name.description).toMatch(/visible/);
    expect(name.description).toMatch(/bidirectional/);
  });
});

describe("every test's responses are checked against the document (test/helpers/contract.ts)", () => {
  const request = (method: string, path: string) => ({ method, url: `http://edge-users.test${path}` });
  const answer = (status: number, body?: unknown, type = "application/json") =>
    new Response(body === undefined ? null : JSON.stringify(body), {
      status,
      headers: { "Content-Type": type, "X-Request-Id": "r" },
    });
  const id = "01936b2e-7c4a-7d1e-9a3b-5f0c2d8e4a61";

  it("refuses a status the route does not document, a body off its schema, a missing X-Request-Id", async () => {
    await expect(checkAgainstDocument(request("DELETE", `/api/users/${id}`), answer(418))).rejects.toThrow(
      /status not in the document/,
    );
    await expect(
      checkAgainstDocument(request("GET", `/api/users/${id}`), answer(200, { id: 1, username: "x" })),
    ).rejects.toThrow(/does not match the document/);
    await expect(
      checkAgainstDocument(request("GET", "/health"), new Response('{"status":"ok"}', { status: 200 })),
    ).rejects.toThrow(/no X-Request-Id/);
    await expect(checkAgainstDocument(request("GET", "/nowhere"), answer(200, {}))).rejects.toThrow(
      /an undocumented route answered/,
    );
  });

  it("passes what the document says", async () => {
    await expect(
      checkAgainstDocument(request("GET", "/health"), answer(200, { status: "ok" })),
    ).resolves.toBeUndefined();
  });
});

describe("what client generators and linters need", () => {
  type Operation = {
    operationId?: string;
    security?: unknown[];
    responses: Record<string, { headers?: Record<string, unknown> }>;
  };
  async function served() {
    return (await (await api("GET", "/openapi.json")).json()) as {
      info: { license?: { name: string } };
      servers?: { url: string }[];
      paths: Record<string, Record<string, Operation>>;
      components: { schemas: Record<string, { required?: string[] }>; headers: Record<string, unknown> };
    };
  }

  it("unique operationIds, explicit security on every operation, a license and the server", async () => {
    const doc = await served();
    const operations = Object.values(doc.paths).flatMap((methods) => Object.values(methods));
    const ids = operations.map((operation) => operation.operationId);
    expect(ids.every((id) => typeof id === "string" && /^[a-z][A-Za-z]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(operations.every((operation) => Array.isArray(operation.security))).toBe(true);
    expect(doc.paths["/health"]?.get?.security).toEqual([]);
    expect(doc.paths["/api/auth/login"]?.post?.security).toEqual([]);
    expect(doc.info.license?.name).toBe("MIT");
    expect(doc.servers).toEqual([{ url: "http://localhost:8787", description: "This API's origin" }]);
  });

  it("every response declares X-Request-Id; every 429 its Retry-After, RateLimit and RateLimit-Policy", async () => {
    const doc = await served();
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        for (const [status, response] of Object.entries(operation.responses)) {
          const where = `${method} ${path} ${status}`;
          expect(Object.keys(response.headers ?? {}), where).toContain("X-Request-Id");
          if (status === "429")
            expect(Object.keys(response.headers ?? {}), where).toEqual(
              expect.arrayContaining(["Retry-After", "RateLimit", "RateLimit-Policy"]),
            );
        }
      }
    }
    expect(doc.components.schemas.Problem?.required).toEqual(expect.arrayContaining(["detail", "requestId"]));
  });

  it("every problem has a detail, even those raised without one", async () => {
    const res = await api("GET", "/nowhere");
    expect(((await res.json()) as { detail?: string }).detail).toEqual(expect.any(String));
  });
});
