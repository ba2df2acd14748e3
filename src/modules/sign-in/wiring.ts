// How signing in with an identity provider is wired into a Gatehouse
// (src/app.ts): its routes (./index.ts), when the store is enabled and a
// provider signs people in through the browser.
import type { Sealer } from "../../providers/provider.ts";
import type { SessionService } from "../../sessions/service.ts";
import { SignInFlows } from "../../sign-in/flows.ts";
import type { StoreBackend } from "../../store/backend.ts";
import type { Feature } from "../feature.ts";
import type { PortalCookie } from "../portal/cookie.ts";
import { signInModule } from "./index.ts";

export interface SignInWiring {
  store: StoreBackend | null;
  sessions: SessionService | null;
  /** The portal's cookie; null when the portal is off (then only Tiled's flows are served). */
  cookie: PortalCookie | null;
  /** portal.public_url, when configured. */
  portalPublicUrl?: string;
  /** Seals an identity provider's refresh token (recheck_on_refresh); null when none keeps one. */
  sealer: Sealer | null;
  /** auth.timeout_in_ms: how long the provider may take to answer each request. */
  timeoutMs: number;
}

export function signInFeature({ store, sessions, cookie, portalPublicUrl, sealer, timeoutMs }: SignInWiring): Feature {
  return {
    routes: ({ pipeline, publicUrl, logger }) =>
      store && sessions && pipeline.providers.some((provider) => provider.scheme === "external")
        ? signInModule({
            providers: pipeline.providers,
            flows: new SignInFlows(store, logger),
            sessions,
            store,
            cookie,
            links: publicUrl,
            portalPublicUrl,
            sealer,
            timeoutMs,
            logger,
          })
        : null,
  };
}
