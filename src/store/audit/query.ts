// Reading the audit log, the same on both databases: filters and cursor paging
// for GET /api/v1/audit and `gatehouse audit`, and the events counted for the
// metrics. The queries that read and purge it: ./sqlite.ts and ./pg.ts.
import { eq, gte, lt, or, sql, type AnyColumn, type SQL } from "drizzle-orm";
import type { auditLog } from "./sqlite-schema.ts";

export interface AuditFilter {
  /** An event name or family (`token`), or a prefix ending in `*` (`token.*`): eventCondition. */
  event?: string;
  /** Who acted: the actor's username (`gatehouse` for Gatehouse itself). */
  actor?: string;
  /** Who or what was acted upon: a username, or a token id (`tok_…`). */
  subject?: string;
  /** The realm of the actor or of the subject. */
  realm?: string;
  /** ms since the epoch, inclusive. */
  since?: number;
  /** ms since the epoch, exclusive. */
  until?: number;
  /** From a previous page's `next_cursor`: only older events. */
  cursor?: string;
  /** Events per page. */
  limit: number;
}

export type AuditRecord = typeof auditLog.$inferSelect;

export const MAX_AUDIT_PAGE = 1000;

/** The cursor is the id of the last event of a page, opaque to clients. */
const encodeCursor = (id: number) => Buffer.from(`a${id}`).toString("base64url");

/** The id a cursor names, or null when it is not one of ours. */
export function decodeCursor(cursor: string): number | null {
  const text = Buffer.from(cursor, "base64url").toString("latin1");
  return /^a\d{1,15}$/.test(text) ? Number(text.slice(1)) : null;
}

/** The audit_log columns the filters read: SQLite's table (./sqlite-schema.ts) or PostgreSQL's (./pg-schema.ts). */
export type AuditColumns = Record<"id" | "at" | "event" | "actorUsername" | "actorRealm" | "targetUsername" | "targetRealm" | "tokenId", AnyColumn>;

/**
 * `%`, `_` and `\` are LIKE's own characters: a prefix is matched literally,
 * each escaped with a backslash (`ESCAPE '\'`: SQLite's LIKE has no escape
 * character unless told). ASCII case is ignored on both databases, as
 * SQLite's LIKE does by itself.
 */
const escapeLike = (text: string) => text.replace(/[\\%_]/g, (character) => `\\${character}`);

const eventPrefix = (event: AnyColumn, prefix: string): SQL => sql`lower(${event}) LIKE ${`${escapeLike(prefix)}%`.toLowerCase()} ESCAPE '\\'`;

/**
 * The one rule of the event filter, for the API, the CLI and the portal: a
 * name ending in `*` is a prefix (`token.*`, `regulation.rel*`); any other
 * name matches that event and its family (`token` matches `token.created`,
 * `token.revoked`…; `token.created` matches itself, and `token.created.x` if
 * there were one). ASCII case is ignored on both databases.
 */
export function eventCondition(event: AnyColumn, filter: string): SQL {
  if (filter.endsWith("*")) return eventPrefix(event, filter.slice(0, -1));
  return or(eq(event, filter), eventPrefix(event, `${filter}.`))!;
}

/** The conditions of a page's filter, on either database (a cursor not ours: RangeError). */
export function auditPageConditions(log: AuditColumns, filter: AuditFilter): SQL[] {
  const conditions: SQL[] = [];
  if (filter.event !== undefined) conditions.push(eventCondition(log.event, filter.event));
  if (filter.actor !== undefined) conditions.push(eq(log.actorUsername, filter.actor));
  if (filter.subject !== undefined) conditions.push(or(eq(log.targetUsername, filter.subject), eq(log.tokenId, filter.subject))!);
  if (filter.realm !== undefined) conditions.push(or(eq(log.actorRealm, filter.realm), eq(log.targetRealm, filter.realm))!);
  if (filter.since !== undefined) conditions.push(gte(log.at, filter.since));
  if (filter.until !== undefined) conditions.push(lt(log.at, filter.until));
  if (filter.cursor !== undefined) {
    const before = decodeCursor(filter.cursor);
    if (before === null) throw new RangeError("cursor: not a cursor this server gave");
    conditions.push(lt(log.id, before));
  }
  return conditions;
}

/** Events per page, within bounds; ask for one more: whether it exists says if there is a next page. */
export const auditPageSize = (filter: AuditFilter) => Math.min(Math.max(1, filter.limit), MAX_AUDIT_PAGE);

/** The page from the rows read (up to one more than its size) and the cursor of the next one (null on the last page). */
export function auditPage(rows: AuditRecord[], size: number): { events: AuditRecord[]; nextCursor: string | null } {
  const events = rows.slice(0, size);
  return { events, nextCursor: rows.length > size ? encodeCursor(events[events.length - 1]!.id) : null };
}

/** Audit events counted by name (and by the detail that tells them apart), for the metrics' store-wide counters. */
export interface AuditEventCount {
  event: string;
  reason: string | null;
  kind: string | null;
  count: number;
}

const AGO_UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A time bound as people write it: an ISO 8601 date or date-time
 * (`2026-11-28`, `2026-11-28T10:00Z`), or how long ago (`90m`, `24h`, `7d`).
 * A string is the problem.
 */
export function parseAuditTime(value: string, now = Date.now()): number | string {
  const ago = /^(\d{1,9})([smhd])$/.exec(value);
  if (ago) return now - Number(ago[1]) * AGO_UNITS[ago[2]!]!;
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) {
    const ms = Date.parse(value);
    if (!Number.isNaN(ms)) return ms;
  }
  return `${value}: expected an ISO 8601 date or date-time, or a duration ago such as 90m, 24h, 7d`;
}

/** An event as the API and the CLI show it. */
export function auditView(record: AuditRecord) {
  return {
    id: record.id,
    at: new Date(record.at).toISOString(),
    event: record.event,
    actor: { username: record.actorUsername, realm: record.actorRealm, token_id: record.actorTokenId },
    subject: { username: record.targetUsername, realm: record.targetRealm, token_id: record.tokenId },
    address: record.address,
    reported_address: record.reportedAddress,
    detail: record.detail ?? null,
  };
}

/** The filter of a request or a command line, as given (times as text); a string is the problem. */
export function auditFilterFrom(input: {
  event?: string;
  actor?: string;
  subject?: string;
  realm?: string;
  since?: string;
  until?: string;
  cursor?: string;
  limit?: number;
}): AuditFilter | string {
  const filter: AuditFilter = {
    limit: input.limit ?? 100,
    event: input.event,
    actor: input.actor,
    subject: input.subject,
    realm: input.realm,
    cursor: input.cursor,
  };
  for (const bound of ["since", "until"] as const) {
    if (input[bound] === undefined) continue;
    const time = parseAuditTime(input[bound]!);
    if (typeof time === "string") return `${bound}: ${time}`;
    filter[bound] = time;
  }
  return filter;
}
