// The rows behind the per-request reads (`PgHotRows`, ./contract.ts), read
// straight from PostgreSQL with no cache: cache.ts keeps them in memory. The
// same statements as SQLite's prepared hot reads (../tokens/sqlite.ts'
// prepareTokenLookup, ../sessions/sqlite.ts' prepareSessionLiveness,
// ../users/sqlite.ts' prepareOwnerLookup and account finder), on Bun's client
// directly (no ORM mapping: it prepares each tagged query once per
// connection). int8 columns arrive as strings and are converted.
import type { SQL } from "bun";
import { accountFromRow, type Account, type AccountRow } from "../users/model.ts";
import type { SessionLivenessRow } from "../sessions/model.ts";
import type { TokenCredentialRow } from "../tokens/model.ts";
import type { PgHotRows } from "./contract.ts";

const intOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

export function pgHotRows(sql: SQL): PgHotRows {
  return {
    async tokenCredential(hash): Promise<TokenCredentialRow | null> {
      const [row] = await sql`SELECT id, user_id, scopes, expires_at, revoked_at, session_id, rotated_until, allowed_networks FROM tokens WHERE hash = ${hash}`;
      if (!row) return null;
      return {
        id: row.id,
        user_id: Number(row.user_id),
        scopes: row.scopes,
        expires_at: intOrNull(row.expires_at),
        revoked_at: intOrNull(row.revoked_at),
        session_id: row.session_id,
        rotated_until: intOrNull(row.rotated_until),
        allowed_networks: row.allowed_networks,
      };
    },

    async owner(userId) {
      const [row] = await sql`SELECT username, realm FROM users WHERE id = ${userId}`;
      return row ? { username: row.username, realm: row.realm } : null;
    },

    async session(id): Promise<SessionLivenessRow | null> {
      const [row] = await sql`
        SELECT s.expires_at, s.refresh_expires_at, s.revoked_at, u.username, u.realm
        FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ${id}`;
      if (!row) return null;
      return {
        expires_at: Number(row.expires_at),
        refresh_expires_at: Number(row.refresh_expires_at),
        revoked_at: intOrNull(row.revoked_at),
        username: row.username,
        realm: row.realm,
      };
    },

    async account(username, realm): Promise<Account | null> {
      const [row] = await sql`
        SELECT u.id, p.user_id IS NOT NULL AS has_profile, p.email, p.first_name, p.last_name, p.organisation,
               p.provider, p.provider_id, p.roles
          FROM users u LEFT JOIN user_profiles p ON p.user_id = u.id
         WHERE u.username = ${username} AND u.realm = ${realm}`;
      return row ? accountFromRow(row as AccountRow) : null;
    },
  };
}
