// GET /openapi.json: the OpenAPI 3.1 description of the routes this instance
// serves (./document.ts), made from the app's route table at the first request
// (every route is mounted by then) and kept. JSON only: no documentation page
// is served, so the server keeps its strict CSP; the rendered reference is
// docs/api/ (scripts/openapi-docs.ts).
import { Elysia, t } from "elysia";
import { NAME, VERSION } from "../../version.ts";
import type { PublicUrl } from "../public-url.ts";
import { openApiDocument, type RouteEntry } from "./document.ts";

export interface OpenApiDeps {
  /** The app's routes, read at the first request (the app that mounts this module is not made yet). */
  routes(): readonly RouteEntry[];
  publicUrl: PublicUrl;
}

const OPEN = { additionalProperties: true };
const DocumentModel = t.Object(
  { openapi: t.String(), info: t.Object({ title: t.String(), version: t.String() }, OPEN), paths: t.Record(t.String(), t.Unknown()) },
  { ...OPEN, description: "An OpenAPI 3.1 document" },
);

const OPENAPI_PATH = "/openapi.json";

export function openApiModule({ routes, publicUrl }: OpenApiDeps) {
  // Made once, kept as text: each answer only puts its `servers` in front.
  let made: string | null = null;
  return new Elysia({ name: "openapi" }).get(
    OPENAPI_PATH,
    ({ request, server }) => {
      made ??= JSON.stringify(openApiDocument(routes(), { title: NAME, version: VERSION }));
      // `servers` is where this instance is reached: public_url, a trusted proxy's headers, else the request's own URL;
      // only an answer naming public_url is the same for everyone, and may be kept by shared caches.
      const servers = JSON.stringify([{ url: publicUrl.base(request, server) }]);
      return new Response(`{"servers":${servers},${made.slice(1)}`, {
        headers: { "content-type": "application/json", "cache-control": publicUrl.fixed ? "public, max-age=300" : "no-store" },
      });
    },
    {
      detail: {
        summary: "This description of the API (OpenAPI 3.1)",
        responses: { 200: { description: "An OpenAPI 3.1 document", content: { "application/json": { schema: DocumentModel } } } },
      },
    },
  );
}
