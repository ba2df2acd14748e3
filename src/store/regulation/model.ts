// The regulation family (regulation/regulator.ts) as the services see it, the
// same on both databases: its part of `Queries` (../backend.ts) and the
// records it takes and answers. SQLite's queries: ./sqlite.ts; PostgreSQL's:
// ./pg.ts; the tables beside them.
import type { MaybePromise } from "../../identity/maybe-promise.ts";

/** The regulation queries of `Queries` (../backend.ts). */
export interface RegulationQueries {
  /** `forUpdate`: created when missing and locked until the transaction ends, so concurrent failures are all counted. */
  regulationCounter(kind: string, subject: string, options?: { forUpdate?: boolean }): MaybePromise<RegulationCounter | undefined>;
  saveRegulationCounter(counter: RegulationCounter): MaybePromise<void>;
  deleteRegulationCounter(kind: string, subject: string): MaybePromise<void>;
  /** Deletes the bans that are over (returned) and the counts whose window passed. */
  releaseRegulation(now: number, findTimeMs: number): MaybePromise<{ kind: string; subject: string }[]>;
  activeBans(now: number): MaybePromise<{ kind: string; subject: string; bannedUntil: number }[]>;
}

export interface RegulationCounter {
  kind: string;
  subject: string;
  failures: number;
  windowStartedAt: number;
  bannedUntil: number | null;
}
