// Which store failures mean "the store cannot serve now" (a full disk, a lock
// held by another process past the busy timeout, an I/O error) rather than a
// bug: those become a 503 refusal with the reason, so that clients retry and
// operators see what to fix, instead of a 500.
import { Refusal } from "../refusal.ts";

const REASONS: Record<string, string> = {
  SQLITE_FULL: "the disk is full",
  SQLITE_BUSY: "the database is locked by another process",
  SQLITE_LOCKED: "the database is locked",
  SQLITE_IOERR: "a disk input/output error",
  SQLITE_READONLY: "the database is read-only",
  SQLITE_CANTOPEN: "the database file cannot be opened",
};

/** The reason when `error` (or its cause, as drizzle wraps them) is a store outage; null otherwise. */
export function storeUnavailableReason(error: unknown): string | null {
  for (let current = error, depth = 0; current && depth < 4; current = (current as { cause?: unknown }).cause, depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code !== "string") continue;
    // Extended codes (SQLITE_IOERR_WRITE, SQLITE_BUSY_SNAPSHOT…) share their primary code's reason.
    const reason = REASONS[code.split("_").slice(0, 2).join("_")];
    if (reason) return reason;
  }
  return null;
}

/** A 503 refusal for a store outage, or the error unchanged. */
export function refusalForOutage(error: unknown, report?: (reason: string, error: unknown) => void): unknown {
  const reason = storeUnavailableReason(error);
  if (!reason) return error;
  report?.(reason, error);
  return new Refusal(503, `The store is unavailable: ${reason}; try again later`, { "retry-after": "5" });
}
