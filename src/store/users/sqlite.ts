// The users family's queries on SQLite (their PostgreSQL twins: ./pg.ts): the
// users table, everyone who has owned or managed a token, with when they were
// first and last seen; and the accounts a trusted front proxy vouches for
// (`user_profiles`, see ./model.ts).
import { eq, sql } from "drizzle-orm";
import { users } from "./sqlite-schema.ts";
import type { Executor, Store } from "../database.ts";
import { accountFromRow, userSummary, type Account, type AccountRow, type Profile, type UserListPage, type UserQueries, type UserSummary, type UserSummaryRow } from "./model.ts";
import { userListQuery } from "./list.ts";

/**
 * The user's id, creating the row on first sight; `last_seen` moves to `at`.
 * The statement is prepared once (see ../audit/sqlite.ts' prepareAuditWriter for why).
 */
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

/** The admins' user list, one page (./list.ts). */
export function listUsers(db: Executor, page: UserListPage): UserSummary[] {
  return db.all<UserSummaryRow>(userListQuery(page, "collate binary")).map(userSummary);
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

/** The account finder, prepared once: an account is read on every request the proxy vouches for. */
export function prepareAccountFinder(store: Store): (username: string, realm: string) => Account | null {
  const select = store.sqlite.prepare<AccountRow, [string, string]>(
    `SELECT u.id, p.user_id IS NOT NULL AS has_profile, p.email, p.first_name, p.last_name, p.organisation,
            p.provider, p.provider_id, p.roles
       FROM users u LEFT JOIN user_profiles p ON p.user_id = u.id
      WHERE u.username = ? AND u.realm = ?`,
  );
  return (username, realm) => {
    const row = select.get(username, realm);
    return row ? accountFromRow(row) : null;
  };
}

/**
 * Creates the user if need be and writes the profile, inside the caller's
 * transaction; answers the user's id. `upsertUser` is the caller's
 * prepareUpsertUser, so the statement is prepared once per connection.
 */
export function prepareProfileWriter(
  store: Store,
  upsertUser: (username: string, realm: string, at: number) => number,
): (username: string, realm: string, profile: Profile, at: number) => number {
  const upsertProfile = store.sqlite.prepare(
    `INSERT INTO user_profiles (user_id, email, first_name, last_name, organisation, provider, provider_id, roles, updated_at)
     VALUES ($id, $email, $firstName, $lastName, $organisation, $provider, $providerId, $roles, $at)
     ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, first_name = excluded.first_name,
       last_name = excluded.last_name, organisation = excluded.organisation, provider = excluded.provider,
       provider_id = excluded.provider_id, roles = excluded.roles, updated_at = excluded.updated_at`,
  );
  return (username, realm, profile, at) => {
    const id = upsertUser(username, realm, at);
    upsertProfile.run({ id, ...profile, roles: profile.roles === null ? null : JSON.stringify(profile.roles), at });
    return id;
  };
}

/** The user queries of `Queries` (./model.ts) over one connection, synchronous. */
export function sqliteUserQueries(store: Store): UserQueries {
  const { db } = store;
  const upsertUser = prepareUpsertUser(store);
  const saveProfile = prepareProfileWriter(store, upsertUser);
  return {
    upsertUser,
    markUsersSeen: (seen) => markUsersSeen(db, seen),
    lockUser: () => {}, // the immediate transaction holds the write lock already
    saveProfile: (username, realm, profile, at) => saveProfile(username, realm, profile, at),
    listUsers: (page) => listUsers(db, page),
  };
}
