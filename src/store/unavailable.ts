// Which store failures mean "the store cannot serve now" (a full disk, a lock
// held by another process past the busy timeout, an I/O error) rather than a
// bug: those answer 503 with the reason, so that clients retry and operators
// see what to fix, instead of a 500.

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
