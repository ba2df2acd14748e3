// The table of ./sqlite-schema.ts on PostgreSQL: the same columns, indexes and
// constraints, in drizzle's pg-core (the dialect's choices: ../pg/schema.ts).
import { index, integer, pgTable, primaryKey, text } from "drizzle-orm/pg-core";
import { time } from "../pg/columns.ts";

/** Regulation of guessing: failures per username and per address, and the bans they led to. */
export const regulationCounters = pgTable(
  "regulation_counters",
  {
    kind: text("kind").notNull(),
    subject: text("subject").notNull(),
    failures: integer("failures").notNull(),
    windowStartedAt: time("window_started_at").notNull(),
    bannedUntil: time("banned_until"),
  },
  (table) => [primaryKey({ columns: [table.kind, table.subject] }), index("regulation_counters_banned_until").on(table.bannedUntil)],
);
