// The audit log as the services see it, the same on both databases: its part
// of `Queries` (../backend.ts), the rows it keeps and how one is made, and the
// portal's search filter. Reading it page by page (the API, the CLI):
// ./query.ts. SQLite's queries: ./sqlite.ts; PostgreSQL's: ./pg.ts; the tables
// beside them.
import { eq, gte, lt, type SQL } from "drizzle-orm";
import type { MaybePromise } from "../../identity/maybe-promise.ts";
import type { ClientAddress } from "../../identity/client.ts";
import type { Owner } from "../../identity/actor.ts";
import type { Logger } from "../../log.ts";
import { eventCondition, type AuditColumns, type AuditEventCount, type AuditFilter as AuditPageFilter, type AuditRecord } from "./query.ts";
import type { auditLog } from "./sqlite-schema.ts";

/** The audit queries of `Queries` (../backend.ts). */
export interface AuditQueries {
  recordAudit(event: AuditEvent): MaybePromise<void>;
  recordAggregatedAudit(row: AuditRow): MaybePromise<void>;
  listAudit(options?: { tokenId?: string; limit?: number }): MaybePromise<AuditRecord[]>;
  searchAudit(filter: AuditFilter): MaybePromise<AuditRecord[]>;
  listAuditPage(filter: AuditPageFilter): MaybePromise<{ events: AuditRecord[]; nextCursor: string | null }>;
  purgeAudit(before: number): MaybePromise<number>;
  newestAuditId(): MaybePromise<number>;
  auditEventsSince(afterId: number): MaybePromise<{ lastId: number; counts: AuditEventCount[] }>;
}

export type AuditEvent = typeof auditLog.$inferInsert;

/** A row as read: declared in ./query.ts (which this file imports, so it cannot import this one back). */
export type { AuditRecord };

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
    filter.event ? eventCondition(log.event, filter.event) : undefined,
    filter.actor ? eq(log.actorUsername, filter.actor) : undefined,
    filter.subject ? eq(log.targetUsername, filter.subject) : undefined,
    filter.from !== undefined ? gte(log.at, filter.from) : undefined,
    filter.to !== undefined ? lt(log.at, filter.to) : undefined,
    filter.before !== undefined ? lt(log.id, filter.before) : undefined,
  ];
}
