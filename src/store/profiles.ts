// Accounts vouched for by a trusted front proxy (providers/trusted-header.ts):
// a row of `users` plus what the proxy said about it in `user_profiles`.
import type { Store } from "./database.ts";
import { prepareUpsertUser } from "./users.ts";

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

/** Creates the user if need be and writes the profile, inside the caller's transaction; answers the user's id. */
export function prepareProfileWriter(store: Store): (username: string, realm: string, profile: Profile, at: number) => number {
  const upsertUser = prepareUpsertUser(store);
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
