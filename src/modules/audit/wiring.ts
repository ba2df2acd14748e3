// How the audit log is wired into a Gatehouse (src/app.ts): its purge on a
// schedule (audit.retention), and its route (./index.ts), which answers 503
// without the store.
import type { Logger } from "../../log.ts";
import type { StoreBackend } from "../../store/backend.ts";
import type { Feature } from "../feature.ts";
import { auditModule } from "./index.ts";

export interface AuditWiring {
  store: StoreBackend | null;
  /** audit.retention: how long events are kept, in seconds; 0 keeps them all. */
  retentionSeconds: number;
  /** audit.purge_interval, in seconds. */
  purgeIntervalSeconds: number;
  logger: Logger;
}

export function auditFeature({ store, retentionSeconds, purgeIntervalSeconds, logger }: AuditWiring): Feature {
  // The audit log keeps `audit.retention` seconds; every instance purges (a no-op when another just did).
  const purgeTimer =
    store && retentionSeconds > 0
      ? setInterval(() => {
          store.transaction(async (q) => q.purgeAudit(Date.now() - retentionSeconds * 1000)).then(
            (purged) => {
              if (purged > 0) logger.info("audit.purged", { events: purged, retention_seconds: retentionSeconds });
            },
            (error) => logger.warn("audit.purge_failed", { error: (error as Error).message }),
          );
        }, purgeIntervalSeconds * 1000)
      : null;
  purgeTimer?.unref?.();
  return {
    routes: ({ caller }) => auditModule({ caller, store, logger }),
    stop() {
      if (purgeTimer) clearInterval(purgeTimer);
    },
  };
}
