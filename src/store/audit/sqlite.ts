// The audit log's queries on SQLite (their PostgreSQL twins: ./pg.ts): who did
// what to which token, session or key, when, and from where.
import { and, desc, eq, gte, lt, sql } from "drizzle-orm";
import type { Database } from "bun:sqlite";
import { auditLog } from "./sqlite-schema.ts";
import type { Executor, Store } from "../database.ts";
import { auditSearchConditions, completeAuditRow, type AuditEvent, type AuditFilter, type AuditQueries, type AuditRecord, type AuditRow } from "./model.ts";
import { auditPage, auditPageConditions, auditPageSize, type AuditEventCount, type AuditFilter as AuditPageFilter } from "./query.ts";

export function recordAudit(db: Executor, event: AuditEvent): void {
  db.insert(auditLog).values(event).run();
}

const MINUTE_MS = 60_000;

/**
 * Records a refusal that anyone can cause at will (a failed login) as one row
 * per event, user and address per minute, counting them in `detail.count`:
 * guessing passwords cannot fill the disk, and the log still says who was
 * tried, from where, when, and how often.
 */
export function recordAggregatedAudit(db: Executor, row: AuditRow): void {
  const minuteStart = row.at - (row.at % MINUTE_MS);
  const same = and(
    gte(auditLog.at, minuteStart),
    eq(auditLog.event, row.event),
    sql`${auditLog.actorUsername} IS ${row.actorUsername}`,
    sql`${auditLog.actorRealm} IS ${row.actorRealm}`,
    sql`${auditLog.address} IS ${row.address}`,
  );
  const counted = db
    .update(auditLog)
    .set({ detail: sql`json_set(coalesce(${auditLog.detail}, '{}'), '$.count', coalesce(json_extract(${auditLog.detail}, '$.count'), 1) + 1)` })
    .where(same)
    .returning({ id: auditLog.id })
    .all();
  if (counted.length === 0) recordAudit(db, { ...row, detail: { ...row.detail, count: 1 } });
}

/**
 * recordAudit with the statement prepared once, for callers that write often
 * (token creation): compiling an INSERT costs SQLite ≈150 µs, running it a
 * few. Plain SQL on the raw connection, like the token lookup: drizzle's
 * prepared statements would store a null JSON column as the text "null".
 * Runs inside the caller's transaction: it is the same connection.
 */
export function prepareAuditWriter(store: Store): (row: AuditRow) => void {
  const statement = store.sqlite.prepare(
    `INSERT INTO audit_log (at, event, actor_username, actor_realm, actor_token_id, token_id, target_username, target_realm, address, reported_address, detail)
     VALUES ($at, $event, $actorUsername, $actorRealm, $actorTokenId, $tokenId, $targetUsername, $targetRealm, $address, $reportedAddress, $detail)`,
  );
  return (row) => statement.run({ ...row, detail: row.detail === null ? null : JSON.stringify(row.detail) });
}

/** The newest events first, optionally only those about one token. */
export function listAudit(db: Executor, options: { tokenId?: string; limit?: number } = {}): AuditRecord[] {
  return db
    .select()
    .from(auditLog)
    .where(options.tokenId === undefined ? undefined : eq(auditLog.tokenId, options.tokenId))
    .orderBy(desc(auditLog.id))
    .limit(options.limit ?? 100)
    .all();
}

/** The newest events first, filtered (the portal's audit page); `limit` + 1 rows tell whether there is a next page. */
export function searchAudit(db: Executor, filter: AuditFilter): AuditRecord[] {
  return db
    .select()
    .from(auditLog)
    .where(and(...auditSearchConditions(auditLog, filter)))
    .orderBy(desc(auditLog.id))
    .limit(filter.limit ?? 50)
    .all();
}

/** One page, newest first, and the cursor of the next one (null on the last page). */
export function listAuditPage(db: Executor, filter: AuditPageFilter): { events: AuditRecord[]; nextCursor: string | null } {
  const size = auditPageSize(filter);
  const rows = db
    .select()
    .from(auditLog)
    .where(and(...auditPageConditions(auditLog, filter)))
    .orderBy(desc(auditLog.id))
    .limit(size + 1)
    .all();
  return auditPage(rows, size);
}

/** Deletes the events older than `before` (ms); returns how many. */
export function purgeAudit(db: Executor, before: number): number {
  return db.delete(auditLog).where(lt(auditLog.at, before)).returning({ id: auditLog.id }).all().length;
}

/** The id of the newest event (0 for none): counting starts after it. */
export const newestAuditId = (sqlite: Database) =>
  sqlite.query<{ id: number | null }, []>("SELECT max(id) AS id FROM audit_log").get()?.id ?? 0;

/** The events written after `afterId`, counted, and the newest id (the next call's `afterId`). */
export function auditEventsSince(sqlite: Database, afterId: number): { lastId: number; counts: AuditEventCount[] } {
  const lastId = newestAuditId(sqlite);
  if (lastId <= afterId) return { lastId: afterId, counts: [] };
  const counts = sqlite
    .query<AuditEventCount, [number, number]>(
      `SELECT event, json_extract(detail, '$.reason') AS reason, json_extract(detail, '$.kind') AS kind, count(*) AS count
       FROM audit_log WHERE id > ? AND id <= ? GROUP BY 1, 2, 3`,
    )
    .all(afterId, lastId);
  return { lastId, counts };
}

/** The audit queries of `Queries` (./model.ts) over one connection, synchronous. */
export function sqliteAuditQueries(store: Store): AuditQueries {
  const { db, sqlite } = store;
  const writeAudit = prepareAuditWriter(store);
  return {
    recordAudit: (event) => writeAudit(completeAuditRow(event)),
    recordAggregatedAudit: (row) => recordAggregatedAudit(db, row),
    listAudit: (options) => listAudit(db, options),
    searchAudit: (filter) => searchAudit(db, filter),
    listAuditPage: (filter) => listAuditPage(db, filter),
    purgeAudit: (before) => purgeAudit(db, before),
    newestAuditId: () => newestAuditId(sqlite),
    auditEventsSince: (afterId) => auditEventsSince(sqlite, afterId),
  };
}
