// Sign-ins under way at an identity provider: what Gatehouse must remember
// between sending the browser there and its coming back, kept so that
// nothing stored can finish a sign-in on its own.
//
// - `state` (random, 256 bits) travels to the provider and back; the store
//   keeps its SHA-256, in a row that is deleted as it is read (single use,
//   on every instance) and expires after FLOW_TTL_MS.
// - The browser holds a second random value, the flow secret, in a
//   short-lived HttpOnly cookie; the row keeps its SHA-256. A callback is
//   accepted only from the browser that started the flow (login CSRF and
//   fixation defence: nobody can make someone else's browser finish a
//   sign-in they started).
// - The PKCE verifier and the nonce are derived from the flow secret and the
//   state (HMAC-SHA256), so neither is stored anywhere: a copy of the
//   database, or of the callback URL, holds nothing to redeem the code with.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Logger } from "../log.ts";
import type { StoreBackend } from "../store/backend.ts";
import { sha256Hex } from "../identity/secrets.ts";
import { SignInRefusal, type ExternalIdentity, type ExternalSignIn, type FlowSecrets } from "../providers/oidc.ts";

/** How long a person may take at the identity provider. */
export const FLOW_TTL_MS = 10 * 60 * 1000;

/** Where a sign-in leads: the portal (a browser session), or Tiled's external mode (a session's tokens). */
export type FlowPurpose = "portal" | "tiled";

export interface StartedFlow {
  /** Where to send the browser. */
  url: URL;
  /** The flow secret, for the browser's flow cookie. */
  secret: string;
}

export interface FinishedFlow {
  identity: ExternalIdentity;
  purpose: FlowPurpose;
  /** The portal page to return to (purpose portal), already checked when the flow started. */
  returnTo: string | null;
}

const random = () => randomBytes(32).toString("base64url");
const derive = (secret: string, what: string, state: string) => createHmac("sha256", secret).update(`${what}:${state}`).digest("base64url");
const sameHash = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

function secretsOf(secret: string, state: string, redirectUri: string): FlowSecrets {
  // 43 base64url characters: within PKCE's 43..128, and 256 bits like the state.
  return { redirectUri, state, nonce: derive(secret, "nonce", state), codeVerifier: derive(secret, "pkce", state) };
}

export class SignInFlows {
  constructor(
    private readonly store: StoreBackend,
    private readonly logger: Logger,
    private readonly ttlMs = FLOW_TTL_MS,
  ) {}

  async start(provider: { name: string; signIn: ExternalSignIn }, purpose: FlowPurpose, returnTo: string | null, redirectUri: string, signal: AbortSignal, now = Date.now()): Promise<StartedFlow> {
    const state = random();
    const secret = random();
    // The URL first: a provider that cannot be reached leaves no row behind.
    const url = await provider.signIn.authorizationUrl(secretsOf(secret, state, redirectUri), signal);
    await this.store.transaction(async (q) =>
      q.insertSignInFlow({
        stateHash: sha256Hex(state),
        provider: provider.name,
        bindingHash: sha256Hex(secret),
        purpose,
        returnTo,
        createdAt: now,
        expiresAt: now + this.ttlMs,
      }),
    );
    this.logger.debug("sign_in.started", { provider: provider.name, purpose });
    return { url, secret };
  }

  /**
   * The person the provider vouches for, from its answer at the redirect
   * URI. Refused (SignInRefusal, in words) for a missing, unknown, expired,
   * replayed or foreign state, a browser that did not start the flow, and
   * whatever the provider's answer fails (oidc.ts).
   */
  async finish(provider: { name: string; signIn: ExternalSignIn }, callback: URL, secret: string | null, redirectUri: string, signal: AbortSignal, now = Date.now()): Promise<FinishedFlow> {
    const state = callback.searchParams.get("state");
    if (!state || state.length > 512) throw new SignInRefusal(400, "This sign-in answer carries no state: start the sign-in again", "no_state");
    // Taken (deleted) whatever follows: a state is good for one try.
    const flow = await this.store.transaction(async (q) => q.takeSignInFlow(sha256Hex(state)));
    if (!flow || flow.provider !== provider.name) throw new SignInRefusal(400, "This sign-in is unknown or was already used: start the sign-in again", "unknown_state");
    if (flow.expiresAt <= now) throw new SignInRefusal(400, "This sign-in took too long: start the sign-in again", "expired_state");
    if (!secret || !sameHash(sha256Hex(secret), flow.bindingHash)) {
      throw new SignInRefusal(400, "This sign-in was started in another browser: start the sign-in again here", "foreign_browser");
    }
    const identity = await provider.signIn.complete(callback, secretsOf(secret, state, redirectUri), signal);
    return { identity, purpose: flow.purpose as FlowPurpose, returnTo: flow.returnTo };
  }
}
