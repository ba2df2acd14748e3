// How signing keys are wired into a Gatehouse (src/app.ts): the key sets
// opened at start-up (keys/open.ts), reloaded at once when another instance
// sharing the store rotates one, the issuer of /authenticate's JWTs, and the
// routes (./index.ts).
import { createJwtIssuer, type IssuerOptions, type JwtIssuer } from "../../keys/issuer.ts";
import type { KeySet } from "../../keys/keyset.ts";
import { ManagedKeySet } from "../../keys/managed.ts";
import type { Logger } from "../../log.ts";
import type { StoreBackend } from "../../store/backend.ts";
import type { Feature } from "../feature.ts";
import { keysModule } from "./index.ts";

/** The key sets as opened: backends' JWTs, and sessions' access tokens (null without the store); `managed` is null for shared secrets. */
export interface OpenedKeys {
  keySet: KeySet;
  managed: ManagedKeySet | null;
  sessionKeySet: KeySet | null;
}

export interface KeysWiring {
  keys: OpenedKeys;
  store: StoreBackend | null;
  /** The claims of /authenticate's JWTs (jwt.iss, jwt.aud, jwt.exp). */
  jwt: Pick<IssuerOptions, "iss" | "aud" | "exp">;
  /** keys.publish_ahead: how long a new key is published before it signs. */
  publishAheadSeconds: number;
  logger: Logger;
}

export function keysFeature({ keys, store, jwt, publishAheadSeconds, logger }: KeysWiring): Feature & { opened: OpenedKeys; issuer: JwtIssuer } {
  // A key rotated by another instance sharing the store is loaded at once, not at the next poll.
  const stopReloads = store?.onChange?.((change) => {
    if (change.kind !== "keys.changed" && change.kind !== "flush") return;
    for (const keySet of new Set([keys.managed, keys.sessionKeySet])) {
      if (keySet instanceof ManagedKeySet) {
        keySet.refresh().catch((error) => logger.error("keys.refresh_failed", { error: (error as Error).message }));
      }
    }
  });
  const issuer = createJwtIssuer({ iss: jwt.iss, aud: jwt.aud, exp: jwt.exp, currentSigner: () => keys.keySet.signer() });
  return {
    opened: keys,
    issuer,
    routes: ({ caller, publicUrl }) =>
      keysModule({ caller, keySet: keys.keySet, managed: keys.managed, issuer: jwt.iss, publishAheadSeconds, publicUrl, logger }),
    stop: () => stopReloads?.(),
    close() {
      keys.keySet.close?.();
      if (keys.sessionKeySet !== keys.keySet) keys.sessionKeySet?.close?.();
    },
  };
}
