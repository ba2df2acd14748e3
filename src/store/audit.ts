// The audit log: who did what to which token, session or key, when, and from where.
import { and, desc, eq, gte, lt, or, sql, type SQL } from "drizzle-orm";
import type { AuditColumns } from "./audit-query.ts";
import { auditLog } from "./schema.ts";
import type { Executor, Store } from "./database.ts";
import type { ClientAddress } from "../identity/client.ts";
import type { Owner } from "../identity/actor.ts";
import type { Logger } from "../log.ts";

export type AuditEvent = typeof auditLog.$inferInsert;
export type AuditRecord = typeof auditLog.$inferSelect;
/** A row as written: every column given, null where it does not apply. */
export type AuditRow = Required<Omit<AuditEvent, "id">>;

/** Who did it, as the audit log names them (an Actor is one); null: Gatehouse itself (a scheduled key rotation). */
export interface AuditActor {
  user: Owner | null;
  /** The API token they came with. */
  token?: { id: string };
  /** The operator's name when `user` is null. */
  operator?: string;
  client?: ClientAddress;
}

/** The one way an audit row is made, whoever writes it. */
export function auditRow(
  actor: AuditActor | null,
  event: string,
  at: number,
  about: { tokenId?: string; target?: Owner | null; detail?: Record<string, unknown> } = {},
): AuditRow {
  return {
    at,
    event,
    actorUsername: actor?.user?.username ?? actor?.operator ?? (actor ? null : "gatehouse"),
    actorRealm: actor?.user?.realm ?? null,
    actorTokenId: actor?.token?.id ?? null,
    tokenId: about.tokenId ?? null,
    targetUsername: about.target?.username ?? null,
    targetRealm: about.target?.realm ?? null,
    address: actor?.client?.socket ?? null,
    reportedAddress: actor?.client?.reported ?? null,
    detail: about.detail ?? null,
  };
}

/** Every column of an event given, null where it was left out (the prepared writer below takes rows). */
export function completeAuditRow(event: AuditEvent): AuditRow {
  return {
    at: event.at,
    event: event.event,
    actorUsername: event.actorUsername ?? null,
    actorRealm: event.actorRealm ?? null,
    actorTokenId: event.actorTokenId ?? null,
    tokenId: event.tokenId ?? null,
    targetUsername: event.targetUsername ?? null,
    targetRealm: event.targetRealm ?? null,
    address: event.address ?? null,
    reportedAddress: event.reportedAddress ?? null,
    detail: event.detail ?? null,
  };
}

export function recordAudit(db: Executor, event: AuditEvent): void {
  db.insert(auditLog).values(event).run();
}

/**
 * Runs the write of an audit row that records a refusal rather than a
 * change (a failed login, a denied request): should it fail (a full disk, a
 * store gone read-only), the failure is logged and the request is answered
 * all the same, as it would have been: a wrong password stays a 401.
 */
export async function auditBestEffort(logger: Logger, event: string, write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (error) {
    logger.error("audit.write_failed", { audit_event: event, error: (error as Error).message });
  }
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

export interface AuditFilter {
  /** An event ("token.created") or a family of them ("token"). */
  event?: string;
  /** Who did it (username). */
  actor?: string;
  /** Whom it was about (username). */
  subject?: string;
  /** ms since the epoch, inclusive. */
  from?: number;
  /** ms since the epoch, exclusive. */
  to?: number;
  /** Paging: only events older than this id (the last one of the previous page). */
  before?: number;
  limit?: number;
}

/** The portal search's conditions, on either database's audit_log (ASCII case ignored on both, as SQLite's LIKE does). */
export function auditSearchConditions(log: AuditColumns, filter: AuditFilter): (SQL | undefined)[] {
  return [
    filter.event ? or(eq(log.event, filter.event), sql`lower(${log.event}) LIKE ${`${withoutPercent(filter.event)}.%`.toLowerCase()}`) : undefined,
    filter.actor ? eq(log.actorUsername, filter.actor) : undefined,
    filter.subject ? eq(log.targetUsername, filter.subject) : undefined,
    filter.from !== undefined ? gte(log.at, filter.from) : undefined,
    filter.to !== undefined ? lt(log.at, filter.to) : undefined,
    filter.before !== undefined ? lt(log.id, filter.before) : undefined,
  ];
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

// A "%" typed in the filter would match anything; "_" (one character) is left, as event names use it.
const withoutPercent = (text: string) => text.replace(/%/g, "");
