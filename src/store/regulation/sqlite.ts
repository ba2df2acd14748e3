// The regulation_counters table on SQLite (see regulation/regulator.ts; the
// PostgreSQL twins: ./pg.ts): failed attempts counted per username and per
// client address, and the bans they led to.
import { and, eq, gt, isNotNull, isNull, lt, lte } from "drizzle-orm";
import { regulationCounters } from "./sqlite-schema.ts";
import type { Executor, Store } from "../database.ts";
import type { RegulationCounter, RegulationQueries } from "./model.ts";

const counterOf = (kind: string, subject: string) => and(eq(regulationCounters.kind, kind), eq(regulationCounters.subject, subject));

export function regulationCounter(db: Executor, kind: string, subject: string): RegulationCounter | undefined {
  return db.select().from(regulationCounters).where(counterOf(kind, subject)).get();
}

export function saveRegulationCounter(db: Executor, counter: RegulationCounter): void {
  const { failures, windowStartedAt, bannedUntil } = counter;
  db.insert(regulationCounters)
    .values(counter)
    .onConflictDoUpdate({ target: [regulationCounters.kind, regulationCounters.subject], set: { failures, windowStartedAt, bannedUntil } })
    .run();
}

export function deleteRegulationCounter(db: Executor, kind: string, subject: string): void {
  db.delete(regulationCounters).where(counterOf(kind, subject)).run();
}

/** Deletes the bans that are over (returned) and the counts whose window passed. */
export function releaseRegulation(db: Executor, now: number, findTimeMs: number): { kind: string; subject: string }[] {
  const over = db
    .delete(regulationCounters)
    .where(and(isNotNull(regulationCounters.bannedUntil), lte(regulationCounters.bannedUntil, now)))
    .returning({ kind: regulationCounters.kind, subject: regulationCounters.subject })
    .all();
  db.delete(regulationCounters)
    .where(and(isNull(regulationCounters.bannedUntil), lt(regulationCounters.windowStartedAt, now - findTimeMs)))
    .run();
  return over;
}

export function activeBans(db: Executor, now: number): { kind: string; subject: string; bannedUntil: number }[] {
  return db
    .select({ kind: regulationCounters.kind, subject: regulationCounters.subject, bannedUntil: regulationCounters.bannedUntil })
    .from(regulationCounters)
    .where(gt(regulationCounters.bannedUntil, now))
    .all() as { kind: string; subject: string; bannedUntil: number }[];
}

/** The regulation queries of `Queries` (./model.ts) over one connection, synchronous. */
export function sqliteRegulationQueries(store: Store): RegulationQueries {
  const { db } = store;
  return {
    // `forUpdate` needs nothing here: the immediate transaction is the only writer.
    regulationCounter: (kind, subject) => regulationCounter(db, kind, subject),
    saveRegulationCounter: (counter) => saveRegulationCounter(db, counter),
    deleteRegulationCounter: (kind, subject) => deleteRegulationCounter(db, kind, subject),
    releaseRegulation: (now, findTimeMs) => releaseRegulation(db, now, findTimeMs),
    activeBans: (now) => activeBans(db, now),
  };
}
