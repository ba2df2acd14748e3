// The regulation_counters table (see regulation/regulator.ts): failed
// attempts counted per username and per client address, and the bans they led to.
import { and, eq, gt, isNotNull, isNull, lt, lte } from "drizzle-orm";
import { regulationCounters } from "./schema.ts";
import type { Executor } from "./database.ts";
import type { RegulationCounter } from "./backend.ts";

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
