// The audit log: who did what to which token, when, and from where.
import { desc, eq } from "drizzle-orm";
import { auditLog } from "./schema.ts";
import type { Executor, Store } from "./database.ts";

export type AuditEvent = typeof auditLog.$inferInsert;
export type AuditRecord = typeof auditLog.$inferSelect;

export function recordAudit(db: Executor, event: AuditEvent): void {
  db.insert(auditLog).values(event).run();
}

/**
 * recordAudit with the statement prepared once, for callers that write often
 * (token creation): compiling an INSERT costs SQLite ≈150 µs, running it a
 * few. Plain SQL on the raw connection, like the token lookup: drizzle's
 * prepared statements would store a null JSON column as the text "null".
 * Runs inside the caller's transaction: it is the same connection.
 */
export function prepareAuditWriter(store: Store): (event: Required<Omit<AuditEvent, "id">>) => void {
  const statement = store.sqlite.prepare(
    `INSERT INTO audit_log (at, event, actor_username, actor_realm, actor_token_id, token_id, target_username, target_realm, address, reported_address, detail)
     VALUES ($at, $event, $actorUsername, $actorRealm, $actorTokenId, $tokenId, $targetUsername, $targetRealm, $address, $reportedAddress, $detail)`,
  );
  return (event) => statement.run({ ...event, detail: event.detail === null ? null : JSON.stringify(event.detail) });
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
