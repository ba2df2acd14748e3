// The regulation's table on SQLite. Its PostgreSQL twin: ./pg-schema.ts
// (change both together).
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * Regulation of guessing (regulation/regulator.ts): failed password or API-key
 * attempts per username and per client address within a window, and the ban
 * they led to. Shared by every instance on the store.
 */
export const regulationCounters = sqliteTable(
  "regulation_counters",
  {
    /** "username" or "address". */
    kind: text("kind").notNull(),
    subject: text("subject").notNull(),
    failures: integer("failures").notNull(),
    windowStartedAt: integer("window_started_at").notNull(),
    /** Set when the failures reached the limit: refused until then. */
    bannedUntil: integer("banned_until"),
  },
  (table) => [primaryKey({ columns: [table.kind, table.subject] }), index("regulation_counters_banned_until").on(table.bannedUntil)],
);
