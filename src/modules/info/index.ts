// The descriptive routes: `/` (name and version), `/providers`, `/augmenters`,
// and `/whoami` (the identity /authenticate would vouch for, as JSON).
import { Elysia, t } from "elysia";
import type { IdentityPipeline } from "../../identity/pipeline.ts";
import type { Logger } from "../../log.ts";
import { Refusal } from "../../refusal.ts";
import { NAME, VERSION } from "../../version.ts";
import { UNAUTHORIZED, type callerPlugin } from "../caller.ts";
import { answerErrors } from "../errors.ts";
import { ErrorModel } from "../http.ts";

const PluginList = t.Array(t.Object({ name: t.String(), type: t.String(), realm: t.String() }));
const ProviderList = t.Object({
  providers: t.Array(t.Object({ name: t.String(), type: t.String(), realm: t.String(), scheme: t.String() })),
});
const AugmenterList = t.Object({ augmenters: PluginList });
/** auth-o-tron's User, as its /whoami answers it: `scopes` is `{}` when the credential carries none. */
export const UserModel = t.Object({
  version: t.Integer({ description: "The shape's version, 1" }),
  realm: t.String(),
  username: t.String(),
  roles: t.Array(t.String()),
  attributes: t.Record(t.String(), t.String()),
  scopes: t.Record(t.String(), t.Array(t.String())),
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
<ul><li><a href="./portal/">Portal</a>: your API tokens and sessions</li><li><a href="./health">Health</a></li><li><a href="./providers">Providers</a></li><li><a href="./augmenters">Augmenters</a></li></ul>
</main></body></html>`;
}

export interface InfoDeps {
  pipeline: IdentityPipeline;
  caller: ReturnType<typeof callerPlugin>;
  logger: Logger;
}

export function infoModule({ pipeline, caller, logger }: InfoDeps) {
  const providers = pipeline.providers.map(({ name, type, realm, scheme }) => ({
    name,
    type,
    realm,
    scheme: scheme === "basic" ? "Basic" : scheme === "header" ? "Trusted headers" : scheme === "external" ? "Sign-in" : "Bearer",
  }));
  const augmenters = pipeline.augmenters.map(({ name, type, realm }) => ({ name, type, realm }));
  const page = homePage();

  return new Elysia({ name: "info" })
    .use(caller)
    .onError(answerErrors("error", logger))
    .get("/", () => new Response(page, { headers: { "content-type": "text/html; charset=utf-8" } }), {
      detail: { summary: "A small page with the name and version", responses: { 200: { description: "The page", content: { "text/html": { schema: t.String() } } } } },
    })
    .get("/providers", () => ({ providers }), { response: ProviderList, detail: { summary: "The configured providers: names, types, realms" } })
    .get("/augmenters", () => ({ augmenters }), { response: AugmenterList, detail: { summary: "The configured augmenters: names, types, realms" } })
    .get(
      "/whoami",
      ({ caller, set }) => {
        set.headers["cache-control"] = "no-store";
        if (!caller) throw new Refusal(401, UNAUTHORIZED, { "www-authenticate": pipeline.challenge });
        const { username, realm, roles, attributes, scopes } = caller.user;
        return { version: 1, realm, username, roles, attributes, scopes: scopes ?? {} };
      },
      {
        identified: true,
        response: { 200: UserModel, 401: ErrorModel },
        detail: { summary: "The identity /authenticate would vouch for, in auth-o-tron's shape (401 without a credential)" },
      },
    );
}
