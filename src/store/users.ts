// The users table: everyone who has owned or managed a token, with when they
// were first and last seen.
import { eq, sql } from "drizzle-orm";
import { users } from "./schema.ts";
import type { Executor, Store } from "./database.ts";

/** The user's id, creating the row on first sight; `last_seen` moves to `at`. */
export function upsertUser(db: Executor, username: string, realm: string, at: number): number {
  const [row] = db
    .insert(users)
    .values({ username, realm, firstSeen: at, lastSeen: at })
    .onConflictDoUpdate({
      target: [users.username, users.realm],
      set: { lastSeen: sql`max(${users.lastSeen}, excluded.last_seen)` },
    })
    .returning({ id: users.id })
    .all();
  return row.id;
}

/** upsertUser with the statement prepared once (see audit.ts's prepareAuditWriter for why). */
export function prepareUpsertUser(store: Store): (username: string, realm: string, at: number) => number {
  const statement = store.sqlite.prepare<{ id: number }, { username: string; realm: string; at: number }>(
    `INSERT INTO users (username, realm, first_seen, last_seen) VALUES ($username, $realm, $at, $at)
     ON CONFLICT (username, realm) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)
     RETURNING id`,
  );
  return (username, realm, at) => statement.get({ username, realm, at })!.id;
}

/** Moves `last_seen` forward (never back: several instances may flush out of order). */
export function markUsersSeen(db: Executor, seen: ReadonlyMap<number, number>): void {
  for (const [id, at] of seen) {
    db.update(users)
      .set({ lastSeen: sql`max(${users.lastSeen}, ${at})` })
      .where(eq(users.id, id))
      .run();
  }
}

/**
 * (username, realm) by user id, for verifying tokens. A user row never
 * changes name or realm, so the answers are kept in memory (bounded); this
 * caches names, not the validity of anything.
 */
export function prepareOwnerLookup(store: Store, maxEntries = 100_000): (id: number) => { username: string; realm: string } | null {
  const statement = store.sqlite.prepare<{ username: string; realm: string }, [number]>(
    "SELECT username, realm FROM users WHERE id = ?",
  );
  const known = new Map<number, { username: string; realm: string }>();
  return (id) => {
    const cached = known.get(id);
    if (cached) return cached;
    const row = statement.get(id);
    if (!row) return null;
    if (known.size >= maxEntries) known.clear();
    known.set(id, row);
    return row;
  };
}
