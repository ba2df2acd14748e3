// The audit log: who did what to which token, when, and from where.
import { desc, eq } from "drizzle-orm";
import { auditLog } from "./schema.ts";
import type { Executor } from "./database.ts";

export type AuditEvent = typeof auditLog.$inferInsert;
export type AuditRecord = typeof auditLog.$inferSelect;

export function recordAudit(db: Executor, event: AuditEvent): void {
  db.insert(auditLog).values(event).run();
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
