// How sessions are wired into a Gatehouse (src/app.ts): the built-in
// provider of sessions' access tokens (made before the pipeline), the session
// service (made with the pipeline, which reads a session's user again), the
// device-code sign-ins of command lines (RFC 8628, sign-in/device.ts), and the
// routes (./index.ts), which answer 503 without the store.
import type { IdentityPipeline } from "../../identity/pipeline.ts";
import type { KeySet } from "../../keys/keyset.ts";
import type { Logger } from "../../log.ts";
import { createSessionAccessTokenProvider, type SessionAccessTokenProvider } from "../../providers/session-access-token.ts";
import { unavailable } from "../../refusal.ts";
import { SessionService, rereadFrom, type SessionPolicy } from "../../sessions/service.ts";
import { DeviceAuthorizations } from "../../sign-in/device.ts";
import type { StoreBackend } from "../../store/backend.ts";
import type { TokenService } from "../../tokens/service.ts";
import { deviceGrant } from "../device/index.ts";
import type { Feature } from "../feature.ts";
import { UNAVAILABLE, sessionsModule } from "./index.ts";

/** The built-in provider of sessions' access tokens; null without the store or the key set that signs them. */
export function accessTokenProvider(store: StoreBackend | null, keySet: KeySet | null, issuer: string): SessionAccessTokenProvider | null {
  return store && keySet ? createSessionAccessTokenProvider({ keySet, issuer, sessionOwner: (id, now) => store.hot.sessionOwner(id, now) }) : null;
}

export interface SessionsWiring {
  store: StoreBackend | null;
  policy: SessionPolicy;
  /** What signs sessions' access tokens (keys/open.ts sessionKeySet), and their issuer (jwt.iss). */
  accessTokens: { keySet: KeySet | null; iss: string };
  /** Reads a session's user again from the provider they signed in with. */
  pipeline: IdentityPipeline;
  /** auth.timeout_in_ms: how long that provider may take. */
  timeoutMs: number;
  /** API tokens, whose tokens made in a compromised session end with it. */
  tokens: TokenService | null;
  /** portal.enabled: command lines' sign-ins are approved at the portal's device page, so without it there are none. */
  deviceCodes: boolean;
  logger: Logger;
}

export interface SessionsFeature extends Feature {
  /** null when the store is disabled. */
  service: SessionService | null;
  /** Device-code sign-ins; null without the store or the portal. */
  devices: DeviceAuthorizations | null;
}

export async function sessionsFeature(wiring: SessionsWiring): Promise<SessionsFeature> {
  const { store, tokens, logger } = wiring;
  const service = store
    ? new SessionService(
        store,
        wiring.policy,
        { keySet: wiring.accessTokens.keySet!, iss: wiring.accessTokens.iss },
        rereadFrom(wiring.pipeline, wiring.timeoutMs),
        logger,
        tokens,
      )
    : null;
  // Users removed from the config (or a directory) since the last start lose their sessions now.
  await service?.endSessionsOfUnknownUsers();
  const devices = service && store && wiring.deviceCodes ? new DeviceAuthorizations(store, service, logger) : null;
  return {
    service,
    devices,
    routes: ({ pipeline, caller, publicUrl }) =>
      sessionsModule({
        pipeline,
        caller,
        // Without a store, the routes answer 503 from these stand-ins.
        sessions: service ?? unavailable<SessionService>(UNAVAILABLE),
        tokens: tokens ?? unavailable<TokenService>(UNAVAILABLE),
        storeEnabled: store !== null,
        publicUrl,
        logger,
        deviceGrant: devices ? deviceGrant(devices) : undefined,
      }),
  };
}
