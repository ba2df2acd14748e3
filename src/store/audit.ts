// The audit log: who did what to which token, session or key, when, and from where.
import { desc, eq } from "drizzle-orm";
import { auditLog } from "./schema.ts";
import type { Executor, Store } from "./database.ts";
import type { ClientAddress } from "../identity/client.ts";
import type { Owner } from "../identity/actor.ts";

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
