// GET /openapi.json (issue 27 § 3): an OpenAPI 3.1 description of every route
// the app serves but the portal's pages, valid by the OpenAPI 3.1 schema; and
// the reference in docs/api/, which fails here when stale. The contract test
// (each operation's real answers) is test/openapi-contract.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import { startApp, type TestApp } from "./helpers/app.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";
import { answerChecker, fullConfig, schemaCompiler } from "./helpers/openapi.ts";
import { API_DOCS_DIR, apiDocsFiles, REFERENCE_CONFIG } from "../scripts/openapi-docs.ts";
import { ANY_METHODS, isPortalPage } from "../src/modules/openapi/document.ts";

type Json = Record<string, any>;

const documentOf = async (app: TestApp): Promise<Json> => {
  const response = await fetch(`${app.url}/openapi.json`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toStartWith("application/json");
  return (await response.json()) as Json;
};

/** "GET /api/v1/tokens/{id}" for every operation of the document. */
const operationsOf = (document: Json) => Object.entries<Json>(document.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`));

/** The same for the routes the app has mounted, as the document names them (an .all() route: every method). */
const routesOf = (app: TestApp) =>
  app.gatehouse.app.routes
    .filter((route) => !isPortalPage(route.path))
    .flatMap((route) => (route.method === "ALL" ? ANY_METHODS.map((method) => method.toUpperCase()) : [route.method]).map((method) => `${method} ${route.path.replace(/:([^/]+)/g, "{$1}")}`));

describe("the document of an instance with every feature on", () => {
  let app: TestApp;
  let document: Json;
  beforeAll(async () => {
    app = await startApp(fullConfig(temporaryDirectory()));
    document = await documentOf(app);
  });
  afterAll(() => app?.stop());

  test("validates against the OpenAPI 3.1 schema (@seriousme/openapi-schema-validator)", async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  test("the validator is not a formality: it refuses a response without a description", async () => {
    const broken = structuredClone(document);
    delete broken.paths["/health"].get.responses["200"].description;
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  test("every schema is JSON Schema 2020-12 that a strict compiler accepts (no TypeBox or Elysia leftovers)", () => {
    const ajv = schemaCompiler();
    const schemas: unknown[] = [];
    for (const operations of Object.values<Json>(document.paths)) {
      for (const operation of Object.values<Json>(operations)) {
        for (const parameter of operation.parameters ?? []) schemas.push(parameter.schema);
        for (const media of Object.values<Json>(operation.requestBody?.content ?? {})) schemas.push(media.schema);
        for (const response of Object.values<Json>(operation.responses)) {
          for (const media of Object.values<Json>(response.content ?? {})) schemas.push(media.schema);
        }
      }
    }
    expect(schemas.length).toBeGreaterThan(100);
    for (const schema of schemas) expect(() => ajv.compile(schema as object)).not.toThrow();
    // Elysia's t.Integer accepts a numeric string too (for query strings): described as the integer it is.
    expect(JSON.stringify(document)).not.toContain('"format":"integer"');
  });

  test("the contract test's checker refuses what the document does not allow", async () => {
    const problems = answerChecker(document);
    const answer = (status: number, body: string, type = "application/json") => new Response(body, { status, headers: { "content-type": type } });
    expect(await problems("GET", "/ready", answer(200, '{"status":"ready","checks":{"store":"ok","keys":"ok"}}'))).toEqual([]);
    expect(await problems("GET", "/ready", answer(200, '{"status":"ready","checks":{"store":"ok","keys":"ok"},"extra":1}'))).toHaveLength(1);
    expect(await problems("GET", "/ready", answer(200, '{"status":"maybe","checks":{"store":"ok","keys":"ok"}}'))).toHaveLength(1);
    expect(await problems("GET", "/ready", answer(418, "{}"))).toHaveLength(1);
    expect(await problems("GET", "/ready", answer(200, "ready", "text/plain"))).toHaveLength(1);
    expect(await problems("GET", "/api/v1/auth/logout", answer(401, '{"detail":"x"}'))).toHaveLength(1); // no such operation
    expect(await problems("POST", "/api/v1/auth/logout", answer(401, '{"error":"x"}'))).toHaveLength(1); // Tiled's shape expected
    expect(await problems("DELETE", "/api/v1/tokens/{id}", answer(204, "x"))).toHaveLength(1); // no body
  });

  test("operation ids are unique, path parameters declared, security schemes known", () => {
    const ids = Object.values<Json>(document.paths).flatMap((operations) => Object.values<Json>(operations).map((operation) => operation.operationId));
    expect(new Set(ids).size).toBe(ids.length);
    const schemes = Object.keys(document.components.securitySchemes);
    expect(schemes).toEqual(["basic", "bearer", "portalCookie"]);
    for (const [path, operations] of Object.entries<Json>(document.paths)) {
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]);
      for (const operation of Object.values<Json>(operations)) {
        const declared = (operation.parameters ?? []).filter((parameter: Json) => parameter.in === "path").map((parameter: Json) => parameter.name);
        expect(declared.sort()).toEqual([...templated].sort());
        for (const requirement of operation.security ?? []) for (const scheme of Object.keys(requirement)) expect(schemes).toContain(scheme);
      }
    }
  });

  test("every route the app serves is in it, and nothing else; the portal's pages are left out", () => {
    const described = operationsOf(document).sort();
    expect(described).toEqual([...new Set(routesOf(app))].sort());
    expect(described.some((operation) => operation.includes(" /portal"))).toBe(false);
    // What Elysia's own plugin would have left out or got wrong is here.
    expect(described).toContain("GET /.well-known/jwks.json");
    expect(described).toContain("GET /.well-known/openid-configuration");
    expect(described).toContain("GET /openapi.json");
    expect(described).toContain("HEAD /authenticate");
    expect(described).toContain("GET /api/v1/auth/provider/{name}/code");
  });

  test("each operation it describes is served, and no other method on its paths", async () => {
    // The app's answer to a route it does not have: its error handler's plain 404.
    const unmatched = async (response: Response) => response.status === 404 && (await response.text()) === '{"error":"Not found"}';
    const pattern = (path: string) => new RegExp(`^${path.replace(/\{[^}]+\}/g, "[^/]+")}$`);
    for (const [path, operations] of Object.entries<Json>(document.paths)) {
      const concrete = path.replace(/\{[^}]+\}/g, "x");
      for (const method of ["get", "post", "put", "patch", "delete"]) {
        const response = await fetch(`${app.url}${concrete}`, { method: method.toUpperCase(), redirect: "manual" });
        // GET /api/v1/tokens/report-leak is GET /api/v1/tokens/{id}, with id "report-leak".
        const served = Object.entries<Json>(document.paths).some(([other, otherOperations]) => method in otherOperations && pattern(other).test(concrete));
        expect({ method, path, unmatched: await unmatched(response) }).toEqual({ method, path, unmatched: !served });
      }
    }
  });

  test("who may call each route comes from the route's own guard", () => {
    const operation = (path: string, method: string) => document.paths[path][method];
    expect(operation("/health", "get").security).toBeUndefined();
    expect(operation("/api/v1/tokens", "post").security).toEqual([{ basic: [] }, { bearer: ["gatehouse:tokens"] }, { portalCookie: [] }]);
    expect(operation("/api/v1/keys/rotate", "post").security).toEqual([{ basic: ["admin"] }, { bearer: ["admin", "gatehouse:admin"] }, { portalCookie: ["admin"] }]);
    expect(operation("/api/v1/auth/whoami", "get").security[0]).toEqual({}); // a caller, or none
    expect(Object.keys(operation("/api/v1/tokens", "post").responses)).toEqual(expect.arrayContaining(["201", "401", "403", "413", "415", "429"]));
  });

  test("error shapes: {error} on Gatehouse's routes, {detail} on Tiled's, no body from /authenticate", () => {
    const errorOf = (path: string, method: string, status: string) => document.paths[path][method].responses[status].content?.["application/json"]?.schema;
    expect(errorOf("/api/v1/tokens", "post", "401").required).toEqual(["error"]);
    expect(errorOf("/api/v1/auth/logout", "post", "401").required).toEqual(["detail"]);
    expect(errorOf("/api/v1/auth/session/revoke/{session_id}", "delete", "404").required).toEqual(["detail"]);
    const authenticate = document.paths["/authenticate"].get.responses;
    expect(authenticate["401"].content).toBeUndefined();
    expect(Object.keys(authenticate["401"].headers)).toContain("WWW-Authenticate");
    expect(Object.keys(authenticate["200"].headers)).toContain("Authorization");
  });

  test("the served document is the reference in docs/api/ with where this instance is reached", async () => {
    const { servers, ...served } = document;
    expect(servers).toEqual([{ url: REFERENCE_CONFIG.public_url }]);
    // Only the users differ from REFERENCE_CONFIG, and they are not in the document.
    expect(served).toEqual(JSON.parse(readFileSync(join(API_DOCS_DIR, "openapi.json"), "utf8")));
  });
});

test("docs/api/ is up to date (npm run docs:api rewrites it)", async () => {
  const files = await apiDocsFiles();
  for (const [name, text] of Object.entries(files)) {
    const committed = readFileSync(join(API_DOCS_DIR, name), "utf8");
    if (committed !== text) throw new Error(`docs/api/${name} is stale: run npm run docs:api and commit it`);
  }
  expect(Object.keys(files).sort()).toEqual(["README.md", "openapi.json"]);
});

describe("an instance with features switched off describes only what it serves", () => {
  for (const [name, config] of [
    ["no store", { version: "2.0.0", providers: [{ type: "plain", name: "local", realm: "local", users: [{ username: "a", password: "b" }] }], jwt: { iss: "i", secret: "0123456789abcdef0123456789abcdef" }, store: { enabled: false } }],
    ["no portal, no identity provider", { ...fullConfig(temporaryDirectory()), portal: { enabled: false }, providers: [fullConfig("/tmp").providers[0]] }],
  ] as const) {
    test(name, async () => {
      const app = await startApp(config as Record<string, unknown>);
      try {
        const document = await documentOf(app);
        expect((await new Validator().validate(document)).valid).toBe(true);
        const described = operationsOf(document).sort();
        expect(described).toEqual([...new Set(routesOf(app))].sort());
        expect(described).not.toContain("GET /api/v1/auth/provider/{name}/code");
        expect(described).toContain("GET /authenticate");
      } finally {
        await app.stop();
      }
    });
  }
});
