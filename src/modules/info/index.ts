// The descriptive routes: `/` (name and version), `/providers`, `/augmenters`,
// and `/whoami` (the identity /authenticate would vouch for, as JSON).
import { Elysia, t } from "elysia";
import type { IdentityPipeline } from "../../identity/pipeline.ts";
import { NAME, VERSION } from "../../version.ts";
import { ErrorModel } from "../http.ts";

const PluginList = t.Array(t.Object({ name: t.String(), type: t.String(), realm: t.String() }));
const ProviderList = t.Object({
  providers: t.Array(t.Object({ name: t.String(), type: t.String(), realm: t.String(), scheme: t.String() })),
});
const AugmenterList = t.Object({ augmenters: PluginList });
export const UserModel = t.Object({
  username: t.String(),
  realm: t.String(),
  roles: t.Array(t.String()),
  attributes: t.Record(t.String(), t.String()),
  scopes: t.Union([t.Record(t.String(), t.Array(t.String())), t.Null()]),
});

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function homePage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(NAME)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1d2330}code{background:#eef1f6;padding:.1rem .3rem;border-radius:3px}</style>
</head><body><main>
<h1>${escapeHtml(NAME)}</h1>
<p>Version <strong>${escapeHtml(VERSION)}</strong>. An authentication server for reverse proxies: point nginx's <code>auth_request</code> at <code>/authenticate</code>.</p>
<ul><li><a href="./health">Health</a></li><li><a href="./providers">Providers</a></li><li><a href="./augmenters">Augmenters</a></li></ul>
</main></body></html>`;
}

export function infoModule(pipeline: IdentityPipeline) {
  const providers = pipeline.providers.map(({ name, type, realm, scheme }) => ({
    name,
    type,
    realm,
    scheme: scheme === "basic" ? "Basic" : "Bearer",
  }));
  const augmenters = pipeline.augmenters.map(({ name, type, realm }) => ({ name, type, realm }));
  const page = homePage();

  return new Elysia({ name: "info" })
    .get("/", () => new Response(page, { headers: { "content-type": "text/html; charset=utf-8" } }))
    .get("/providers", () => ({ providers }), { response: ProviderList })
    .get("/augmenters", () => ({ augmenters }), { response: AugmenterList })
    .get(
      "/whoami",
      async ({ request, set, status }) => {
        const result = await pipeline.authenticate(request.headers.get("authorization"), request.headers.get("x-auth-realm"));
        set.headers["cache-control"] = "no-store";
        if (!result.ok) {
          set.headers["www-authenticate"] = pipeline.challenge;
          return status(401, { error: "Unauthorized" });
        }
        const { username, realm, roles, attributes, scopes } = result.user;
        return { username, realm, roles, attributes, scopes: scopes ?? null };
      },
      { response: { 200: UserModel, 401: ErrorModel } },
    );
}
