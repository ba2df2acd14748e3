// The OpenAPI suites' shared parts: a Gatehouse with every feature on (as
// scripts/openapi-docs.ts describes it, with people who can sign in), and a
// checker of real answers against the document: the status must be one the
// operation lists, the media type one it lists for that status (or no body
// where it lists none), and a JSON body must validate against its schema
// (Ajv, JSON Schema 2020-12: OpenAPI 3.1's dialect).
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import type { ValidateFunction } from "ajv";
import { REFERENCE_CONFIG } from "../../scripts/openapi-docs.ts";

export const ADMIN = { username: "admin", password: "admin-password-0123", roles: ["admin"] };
export const ALICE = { username: "alice", password: "alice-password-0123" };

/** REFERENCE_CONFIG with a store in `dir` (moved to PostgreSQL under GATEHOUSE_TEST_STORE=postgres) and two people who sign in. */
export function fullConfig(dir: string): Record<string, any> {
  const config = structuredClone(REFERENCE_CONFIG) as Record<string, any>;
  config.providers[0].users = [ADMIN, ALICE];
  config.store = { enabled: true, path: join(dir, "gatehouse.db") };
  // The suites call from loopback, with no proxy: links are built from public_url.
  config.jwt = { ...config.jwt, reuse_seconds: 0 };
  return config;
}

type Json = Record<string, any>;

/** The JSON Schema compiler of the suites: strict, so that a keyword JSON Schema does not know (a TypeBox leftover) fails. */
export function schemaCompiler() {
  return new Ajv2020({ strict: true, strictTypes: false, allErrors: true });
}

export function answerChecker(document: Json) {
  const ajv = schemaCompiler();
  const compiled = new Map<object, ValidateFunction>();
  const validatorOf = (schema: object) => {
    let validate = compiled.get(schema);
    if (!validate) compiled.set(schema, (validate = ajv.compile(schema)));
    return validate;
  };

  /** What is wrong with this answer to `method` on the templated `path` (empty: the document allows it). */
  return async function problems(method: string, path: string, response: Response): Promise<string[]> {
    const operation = document.paths?.[path]?.[method.toLowerCase()];
    if (!operation) return [`${method} ${path} is not in the document`];
    const status = String(response.status);
    const documented = operation.responses[status] ?? operation.responses[`${status[0]}XX`] ?? operation.responses.default;
    const text = await response.text();
    if (!documented) return [`${method} ${path}: status ${status} is not documented (documented: ${Object.keys(operation.responses).join(", ")}); body ${text.slice(0, 200)}`];
    const media = Object.keys(documented.content ?? {});
    if (media.length === 0) return text === "" ? [] : [`${method} ${path} ${status}: documented without a body, answered ${JSON.stringify(text.slice(0, 200))}`];
    if (method.toUpperCase() === "HEAD") return [];
    const type = (response.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
    if (!media.includes(type)) return [`${method} ${path} ${status}: content-type ${type || "(none)"}, documented ${media.join(", ")}`];
    if (type !== "application/json") return [];
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return [`${method} ${path} ${status}: not JSON: ${text.slice(0, 200)}`];
    }
    const validate = validatorOf(documented.content[type].schema);
    return validate(body) ? [] : [`${method} ${path} ${status}: ${ajv.errorsText(validate.errors)}; body ${text.slice(0, 300)}`];
  };
}
