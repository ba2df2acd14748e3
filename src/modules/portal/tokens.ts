// The portal's token pages (./index.ts lists them all):
//
//   GET  /portal/tokens               your tokens              POST /portal/tokens/revoke
//   GET  /portal/tokens/new           the new-token form
//   POST /portal/tokens/new           → the secret, once
//   POST /portal/tokens/rotate        → the new secret, once
//
// The secret of a new token is the answer to its POST, never a reloadable GET.
import { Elysia } from "elysia";
import { Refusal } from "../../refusal.ts";
import type { TokenPolicy, TokenService, CreateTokenRequest } from "../../tokens/service.ts";
import { allScopes } from "../../tokens/scopes.ts";
import { randomBase62 } from "../../tokens/format.ts";
import type { Caller, callerPlugin } from "../caller.ts";
import { scopesFromList } from "../sessions/tiled.ts";
import { DATE, field, fields, FormBody, parseForm, type Form } from "./forms.ts";
import { backTo, doneMessage, type PortalPages } from "./pages.ts";
import { createdTokenView, newTokenView, tokensView, type NewTokenForm } from "./views.ts";

export interface TokenPagesDeps {
  caller: ReturnType<typeof callerPlugin>;
  tokens: TokenService;
  tokenPolicy: TokenPolicy;
  pages: PortalPages;
}

/** The new-token form's single-use nonce (finding 12): 22 base62 characters, ≈131 bits. */
const FORM_NONCE_LENGTH = 22;
const FORM_NONCE = /^[0-9A-Za-z]{22}$/;

const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** What a token's row offers to do with it (its rotation's longest grace), on this page and an admin's user page. */
export const tokenActions = (tokenPolicy: TokenPolicy) => ({ maxRotationGrace: tokenPolicy.maxRotationGrace ?? 0 });

export function tokenPages({ caller, tokens, tokenPolicy, pages }: TokenPagesDeps) {
  const { person, redirect } = pages;
  const actions = tokenActions(tokenPolicy);

  function newTokenForm(found: Caller, csrf: string, extra: Partial<NewTokenForm> = {}): NewTokenForm {
    const nonce = randomBase62(FORM_NONCE_LENGTH);
    const now = Date.now();
    const maxDays = Math.max(1, Math.floor(tokenPolicy.maxExpiresIn / 86400));
    return {
      grantable: found.actor.scopes ?? allScopes(tokenPolicy.services),
      maxDays,
      defaultDays: Math.max(1, Math.floor(tokenPolicy.defaultExpiresIn / 86400)),
      allowNonExpiring: tokenPolicy.allowNonExpiring && !found.actor.token,
      today: dayOf(now),
      latest: dayOf(now + tokenPolicy.maxExpiresIn * 1000),
      csrf,
      nonce,
      ...extra,
    };
  }

  /** The expiry asked for on the form, as the token service takes it. */
  function expiryOf(form: Form): Pick<CreateTokenRequest, "expiresIn" | "expiresAt"> {
    const choice = field(form, "expires");
    if (choice === "never") return { expiresIn: null };
    if (choice === "custom") {
      const day = field(form, "expires_on");
      if (!DATE.test(day)) throw new Refusal(400, "Choose the expiry date, or a number of days");
      return { expiresAt: `${day}T23:59:59Z` };
    }
    const days = Number(choice);
    if (!Number.isInteger(days) || days < 1) throw new Refusal(400, "Choose when the token expires");
    // The last preset may be the configured maximum itself: never ask for more than it.
    return { expiresIn: Math.min(days * 86400, tokenPolicy.maxExpiresIn) };
  }

  return new Elysia({ name: "portal-tokens" })
    .use(caller)
    .get(
      "/portal/tokens",
      async ({ request, query, ...found }) => {
        const me = person(request, found);
        const done = doneMessage(query, { revoked: "The token is revoked." });
        return pages.answer(request, 200, "Your tokens", tokensView(await tokens.list(me.actor, { includeRevoked: true }), me.frame.csrf, actions, done), me.frame, "tokens");
      },
      { caller: "tokens" },
    )
    .get(
      "/portal/tokens/new",
      ({ request, ...found }) => {
        const me = person(request, found);
        return pages.answer(request, 200, "New token", newTokenView(newTokenForm(me, me.frame.csrf)), me.frame, "tokens/new");
      },
      { caller: "tokens" },
    )
    .post(
      "/portal/tokens/new",
      async ({ request, body, ...found }) => {
        const me = person(request, found);
        const note = field(body, "note");
        const chosen = fields(body, "scope");
        const networks = field(body, "networks");
        const values = { note, expires: field(body, "expires"), expires_on: field(body, "expires_on"), scopes: chosen, networks };
        const nonce = field(body, "nonce");
        try {
          if (!FORM_NONCE.test(nonce)) throw new Refusal(400, "This form is out of date: open New token again");
          const hasServices = tokenPolicy.services.length > 0;
          if (hasServices && chosen.length === 0) throw new Refusal(400, "Choose at least one service or scope");
          const scopes = scopesFromList(chosen);
          if (typeof scopes === "string") throw new Refusal(400, scopes);
          const allowedNetworks = networks.split(/[\s,]+/).filter((entry) => entry !== "");
          const wanted = { note, scopes: hasServices ? scopes : undefined, ...expiryOf(body), formNonce: nonce, ...(allowedNetworks.length > 0 ? { allowedNetworks } : {}) };
          const { secret, token } = await tokens.create(me.actor, me.actor.user!, wanted);
          // The secret is the answer to this POST: never in a URL, never on a page that a reload or Back would show again.
          return pages.answer(request, 201, "Token created", createdTokenView(secret, token), me.frame, "tokens/new");
        } catch (error) {
          if (!(error instanceof Refusal) || error.status === 401) throw error;
          // A refused form made nothing: sent again corrected, it keeps its nonce. One already used gets a fresh form.
          const kept = error.status === 409 || !FORM_NONCE.test(nonce) ? {} : { nonce };
          const form = newTokenForm(me, me.frame.csrf, { error: error.message, values, ...kept });
          return pages.answer(request, error.status, "New token", newTokenView(form), me.frame, "tokens/new");
        }
      },
      { caller: "tokens", parse: parseForm, body: FormBody },
    )
    .post(
      "/portal/tokens/revoke",
      async ({ request, body, ...found }) => {
        const me = person(request, found);
        await tokens.revoke(me.actor, field(body, "id"));
        return redirect(request, backTo(body, "revoked"));
      },
      { caller: "tokens", parse: parseForm, body: FormBody },
    )
    .post(
      "/portal/tokens/rotate",
      async ({ request, body, ...found }) => {
        const me = person(request, found);
        const graceText = field(body, "grace_seconds").trim();
        const graceSeconds = graceText === "" ? undefined : /^\d{1,5}$/.test(graceText) ? Number(graceText) : Number.NaN;
        if (Number.isNaN(graceSeconds)) throw new Refusal(400, "The grace is a whole number of seconds");
        const { secret, token, oldSecretUntil } = await tokens.rotate(me.actor, field(body, "id"), { graceSeconds });
        // As after a creation: the secret is this POST's answer, never in a URL, never shown again.
        return pages.answer(request, 201, "Token rotated", createdTokenView(secret, token, oldSecretUntil), me.frame, "tokens");
      },
      { caller: "tokens", parse: parseForm, body: FormBody },
    );
}
