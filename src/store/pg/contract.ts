// What the PostgreSQL backend's parts agree on: the change notification's
// channel and payload (sent by backend.ts' pgQueries inside a transaction,
// received by changes.ts), and the raw per-request rows that cache.ts keeps
// in memory.
import type { StoreChange } from "../backend.ts";
import type { Account } from "../users/model.ts";
import type { SessionLivenessRow } from "../sessions/model.ts";
import type { TokenCredentialRow } from "../tokens/model.ts";

export const CHANGES_CHANNEL = "gatehouse_changes";

/** NOTIFY payloads must stay under 8000 bytes: beyond this, a change is sent as a flush. */
export const MAX_PAYLOAD_BYTES = 7000;

/** A change as sent: the change itself, and the instance that made it. */
export type ChangeMessage = StoreChange & { from: string };

export function encodeChange(change: StoreChange, from: string): string {
  const payload = JSON.stringify({ ...change, from });
  return Buffer.byteLength(payload) <= MAX_PAYLOAD_BYTES ? payload : JSON.stringify({ kind: "flush", from });
}

/** null for anything that is not a change message (another program may NOTIFY on the channel). */
export function decodeChange(payload: string): ChangeMessage | null {
  try {
    const message = JSON.parse(payload) as ChangeMessage;
    return message && typeof message === "object" && typeof message.kind === "string" && typeof message.from === "string" ? message : null;
  } catch {
    return null;
  }
}

/** The rows behind the hot reads, read straight from PostgreSQL (no cache): cache.ts keeps them. */
export interface PgHotRows {
  tokenCredential(hash: string): Promise<TokenCredentialRow | null>;
  owner(userId: number): Promise<{ username: string; realm: string } | null>;
  session(id: string): Promise<SessionLivenessRow | null>;
  account(username: string, realm: string): Promise<Account | null>;
}
