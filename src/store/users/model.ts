// The users family as the services see it, the same on both databases: its
// part of `Queries` (../backend.ts) and the records it takes and answers.
// SQLite's queries: ./sqlite.ts; PostgreSQL's: ./pg.ts; the tables beside them.
//
// Accounts vouched for by a trusted front proxy (providers/trusted-header.ts)
// are a row of `users` plus what the proxy said about it in `user_profiles`.
import type { MaybePromise } from "../../identity/maybe-promise.ts";

/** The user queries of `Queries` (../backend.ts). */
export interface UserQueries {
  upsertUser(username: string, realm: string, at: number): MaybePromise<number>;
  markUsersSeen(seen: ReadonlyMap<number, number>): MaybePromise<void>;
  /** Serialises writers of one user's rows until the transaction ends (PostgreSQL: FOR UPDATE; SQLite: the write lock already does). */
  lockUser(userId: number): MaybePromise<void>;
  /** An account vouched for by a proxy: the user created if need be, the profile written; answers the user's id. */
  saveProfile(username: string, realm: string, profile: Profile, at: number): MaybePromise<number>;
  /** Users for the admins' list, one page in the order asked (ties by id), with their last sign-in and live tokens and sessions at `now`. */
  listUsers(page: UserListPage): MaybePromise<UserSummary[]>;
}

/** The orders of the admins' user list: last sign-in (newest first, never signed in last), name, last seen (newest first). */
export type UserListOrder = "sign-in" | "name" | "seen";

export interface UserListPage {
  order: UserListOrder;
  limit: number;
  offset: number;
  now: number;
}

export interface UserSummary {
  username: string;
  realm: string;
  firstSeen: number;
  lastSeen: number;
  /** The newest session's start (a sign-in: portal, password login, device code); null: never. */
  lastSignIn: number | null;
  liveTokens: number;
  liveSessions: number;
}

/** A row of the user list as either database answers it (int8 and counts may be strings on PostgreSQL). */
export type UserSummaryRow = Record<"username" | "realm", string> & Record<"first_seen" | "last_seen" | "live_tokens" | "live_sessions", number | string> & { last_sign_in: number | string | null };

export const userSummary = (row: UserSummaryRow): UserSummary => ({
  username: row.username,
  realm: row.realm,
  firstSeen: Number(row.first_seen),
  lastSeen: Number(row.last_seen),
  lastSignIn: row.last_sign_in === null ? null : Number(row.last_sign_in),
  liveTokens: Number(row.live_tokens),
  liveSessions: Number(row.live_sessions),
});

export interface Profile {
  email: string | null;
  firstName: string | null;
  lastName: string | null;
  organisation: string | null;
  provider: string | null;
  providerId: string | null;
  /** null: no roles header is configured, roles come from augmenters only. */
  roles: string[] | null;
}

export interface Account {
  userId: number;
  /** null: the user is in the store (say, an admin gave them a token) but no proxy has described them yet. */
  profile: Profile | null;
}

/** A row of the account query (users LEFT JOIN user_profiles), as both databases answer it. */
export interface AccountRow {
  id: number | string;
  /** SQLite answers 0/1, PostgreSQL a boolean. */
  has_profile: number | boolean;
  email: string | null;
  first_name: string | null;
  last_name: string | null;
  organisation: string | null;
  provider: string | null;
  provider_id: string | null;
  roles: string | null;
}

/** The account of a row of the account query: the profile is null when no proxy has described the user yet. */
export function accountFromRow(row: AccountRow): Account {
  const profile: Profile | null = row.has_profile
    ? {
        email: row.email,
        firstName: row.first_name,
        lastName: row.last_name,
        organisation: row.organisation,
        provider: row.provider,
        providerId: row.provider_id,
        roles: row.roles === null ? null : (JSON.parse(row.roles) as string[]),
      }
    : null;
  return { userId: Number(row.id), profile };
}
