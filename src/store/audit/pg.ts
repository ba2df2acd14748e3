// The audit log's queries on PostgreSQL: the same semantics as ./sqlite.ts,
// query for query (the dialect's differences: ../pg/sql.ts).
import { and, desc, eq, gte, sql } from "drizzle-orm";
import { auditLog } from "./pg-schema.ts";
import { deleted, int, type PgExecutor } from "../pg/sql.ts";
import { auditSearchConditions, type AuditEvent, type AuditFilter, type AuditQueries, type AuditRow } from "./model.ts";
import { auditPage, auditPageConditions, auditPageSize, type AuditFilter as AuditPageFilter, type AuditRecord } from "./query.ts";

const MINUTE_MS = 60_000;

/** The audit queries of `Queries` (./model.ts) over the pool or one transaction. */
export function pgAuditQueries(db: PgExecutor): AuditQueries {
  const recordAudit = async (event: AuditEvent): Promise<void> => {
    await db.insert(auditLog).values(event);
  };
  const newestAuditId = async (): Promise<number> => {
    const [row] = await db.execute<{ id: string }>(sql`SELECT coalesce(max(id), 0) AS id FROM audit_log`);
    return int(row!.id);
  };

  return {
    recordAudit,

    async recordAggregatedAudit(row: AuditRow) {
      // One row per event, actor and address per minute, counting them in detail.count (as ./sqlite.ts).
      const minuteStart = row.at - (row.at % MINUTE_MS);
      const counted = await db
        .update(auditLog)
        .set({
          detail: sql`jsonb_set(coalesce(${auditLog.detail}, '{}')::jsonb, '{count}',
            to_jsonb(coalesce((${auditLog.detail}::jsonb ->> 'count')::bigint, 1) + 1))::text`,
        })
        .where(
          and(
            gte(auditLog.at, minuteStart),
            eq(auditLog.event, row.event),
            sql`${auditLog.actorUsername} IS NOT DISTINCT FROM ${row.actorUsername}::text`,
            sql`${auditLog.actorRealm} IS NOT DISTINCT FROM ${row.actorRealm}::text`,
            sql`${auditLog.address} IS NOT DISTINCT FROM ${row.address}::text`,
          ),
        )
        .returning({ id: auditLog.id });
      if (counted.length === 0) await recordAudit({ ...row, detail: { ...row.detail, count: 1 } });
    },

    listAudit(options = {}): Promise<AuditRecord[]> {
      return db
        .select()
        .from(auditLog)
        .where(options.tokenId === undefined ? undefined : eq(auditLog.tokenId, options.tokenId))
        .orderBy(desc(auditLog.id))
        .limit(options.limit ?? 100);
    },

    searchAudit(filter: AuditFilter): Promise<AuditRecord[]> {
      return db
        .select()
        .from(auditLog)
        .where(and(...auditSearchConditions(auditLog, filter)))
        .orderBy(desc(auditLog.id))
        .limit(filter.limit ?? 50);
    },

    async listAuditPage(filter: AuditPageFilter) {
      const size = auditPageSize(filter);
      const rows = await db
        .select()
        .from(auditLog)
        .where(and(...auditPageConditions(auditLog, filter)))
        .orderBy(desc(auditLog.id))
        .limit(size + 1);
      return auditPage(rows, size);
    },

    purgeAudit(before) {
      return deleted(db, sql`DELETE FROM audit_log WHERE at < ${before}::bigint`);
    },

    newestAuditId,

    async auditEventsSince(afterId) {
      const lastId = await newestAuditId();
      if (lastId <= afterId) return { lastId: afterId, counts: [] };
      const rows = await db.execute<{ event: string; reason: string | null; kind: string | null; count: number }>(sql`
        SELECT event, detail::jsonb ->> 'reason' AS reason, detail::jsonb ->> 'kind' AS kind, count(*)::int AS count
        FROM audit_log WHERE id > ${afterId}::bigint AND id <= ${lastId}::bigint GROUP BY 1, 2, 3`);
      return { lastId, counts: rows.map((row) => ({ event: row.event, reason: row.reason, kind: row.kind, count: int(row.count) })) };
    },
  };
}
