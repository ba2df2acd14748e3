// The regulation's queries on PostgreSQL: the same semantics as ./sqlite.ts,
// query for query (the dialect's differences: ../pg/sql.ts).
import { and, eq, gt, isNotNull, isNull, lt, lte } from "drizzle-orm";
import { regulationCounters } from "./pg-schema.ts";
import type { PgExecutor } from "../pg/sql.ts";
import type { RegulationCounter, RegulationQueries } from "./model.ts";

/** The regulation queries of `Queries` (./model.ts) over the pool or one transaction. */
export function pgRegulationQueries(db: PgExecutor): RegulationQueries {
  return {
    async regulationCounter(kind, subject, options = {}) {
      const where = and(eq(regulationCounters.kind, kind), eq(regulationCounters.subject, subject));
      if (!options.forUpdate) {
        const [row] = await db.select().from(regulationCounters).where(where);
        return row;
      }
      // There is no row to lock before the first failure: a placeholder (no failures, a window long
      // over, so the next count starts afresh) is inserted first. A concurrent transaction inserting the
      // same waits on the key, then on the row lock, and then reads the count as committed.
      await db.insert(regulationCounters).values({ kind, subject, failures: 0, windowStartedAt: 0, bannedUntil: null }).onConflictDoNothing();
      const [row] = await db.select().from(regulationCounters).where(where).for("update");
      // The placeholder stands for "no row" (as SQLite answers): a count of none.
      return row && row.failures === 0 && row.bannedUntil === null ? undefined : row;
    },

    async saveRegulationCounter(counter: RegulationCounter) {
      const { failures, windowStartedAt, bannedUntil } = counter;
      await db
        .insert(regulationCounters)
        .values(counter)
        .onConflictDoUpdate({ target: [regulationCounters.kind, regulationCounters.subject], set: { failures, windowStartedAt, bannedUntil } });
    },

    async deleteRegulationCounter(kind, subject) {
      await db.delete(regulationCounters).where(and(eq(regulationCounters.kind, kind), eq(regulationCounters.subject, subject)));
    },

    async releaseRegulation(now, findTimeMs) {
      const over = await db
        .delete(regulationCounters)
        .where(and(isNotNull(regulationCounters.bannedUntil), lte(regulationCounters.bannedUntil, now)))
        .returning({ kind: regulationCounters.kind, subject: regulationCounters.subject });
      await db
        .delete(regulationCounters)
        .where(and(isNull(regulationCounters.bannedUntil), lt(regulationCounters.windowStartedAt, now - findTimeMs)));
      return over;
    },

    async activeBans(now) {
      const rows = await db
        .select({ kind: regulationCounters.kind, subject: regulationCounters.subject, bannedUntil: regulationCounters.bannedUntil })
        .from(regulationCounters)
        .where(gt(regulationCounters.bannedUntil, now));
      return rows as { kind: string; subject: string; bannedUntil: number }[];
    },
  };
}
