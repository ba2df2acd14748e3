// How the portal is wired into a Gatehouse (src/app.ts): its session cookie,
// which the caller plugin reads as a credential on every route (with its CSRF
// check), and its pages (./index.ts); with portal.enabled false, neither.
import type { KeySet } from "../../keys/keyset.ts";
import type { ManagedKeySet } from "../../keys/managed.ts";
import type { SessionService } from "../../sessions/service.ts";
import type { DeviceAuthorizations, UserCodeGuard } from "../../sign-in/device.ts";
import type { SsoPolicy } from "../../sso/policy.ts";
import type { StoreBackend } from "../../store/backend.ts";
import type { Regulator } from "../../regulation/regulator.ts";
import type { TokenPolicy, TokenService } from "../../tokens/service.ts";
import type { Feature } from "../feature.ts";
import { createPortalCookie, type PortalCookie } from "./cookie.ts";
import { portalModule } from "./index.ts";

export interface PortalWiring {
  /** portal.enabled. */
  enabled: boolean;
  /** portal.public_url: where browsers reach the portal, when configured. */
  publicUrl?: string;
  /** Single sign-on: a sign-in also sets the domain's cookie. */
  sso: SsoPolicy | null;
  /** The services the pages show; null each when the store is disabled (the portal then says so). */
  store: StoreBackend | null;
  sessions: SessionService | null;
  tokens: TokenService | null;
  /** The device page's; null without the store. */
  device: { authorizations: DeviceAuthorizations; guard: UserCodeGuard } | null;
  tokenPolicy: TokenPolicy;
  keys: { keySet: KeySet; managed: ManagedKeySet | null };
  /** Regulation's bans, for the admin page; null when regulation is off. */
  regulator: Regulator | null;
}

export function portalFeature(wiring: PortalWiring): Feature & { cookie: PortalCookie | null } {
  const { enabled, publicUrl, store, sessions, tokens } = wiring;
  const cookie = enabled && sessions ? createPortalCookie({ sessions, publicUrl, sso: wiring.sso }) : null;
  return {
    cookie,
    routes: ({ pipeline, caller, logger }) =>
      enabled
        ? portalModule({
            pipeline,
            caller,
            services: cookie && store && tokens && sessions ? { cookie, sessions, tokens, store } : null,
            device: wiring.device,
            tokenPolicy: wiring.tokenPolicy,
            keys: wiring.keys,
            regulator: wiring.regulator,
            publicUrl,
            logger,
          })
        : null,
  };
}
