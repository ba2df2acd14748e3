// How regulation is wired into a Gatehouse (src/app.ts): the regulator shared
// through the store (without one, this process keeps its own counts in
// memory), its observer given to the pipeline, its sweep stopped at close,
// and the administrators' routes (./index.ts).
import type { Logger } from "../../log.ts";
import { createRegulation, type Regulation, type RegulationCounters, type RegulationSettings } from "../../regulation/index.ts";
import type { StoreBackend } from "../../store/backend.ts";
import { openSqliteBackend } from "../../store/sqlite-backend.ts";
import type { Feature } from "../feature.ts";
import { regulationModule } from "./index.ts";

export interface RegulationWiring {
  /** null: regulation.enabled is false. */
  settings: RegulationSettings | null;
  store: StoreBackend | null;
  logger: Logger;
  counters: RegulationCounters | null;
}

export function regulationFeature({ settings, store, logger, counters }: RegulationWiring): Feature & { service: Regulation | null } {
  const regulationStore = settings ? (store ?? openSqliteBackend(":memory:")) : null;
  const service = settings && regulationStore ? createRegulation(settings, regulationStore, logger, counters) : null;
  return {
    service,
    observer: service?.observer,
    routes: ({ caller }) => regulationModule({ caller, regulator: service?.regulator ?? null, logger }),
    stop: () => service?.close(),
    async close() {
      if (regulationStore && regulationStore !== store) await regulationStore.close();
    },
  };
}
