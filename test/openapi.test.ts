import { describe, expect, it } from "vitest";
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
