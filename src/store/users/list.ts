// The admins' user list (portal: Users), one SQL text for both databases:
// every user with their newest session's start (last sign-in), and their live
// API tokens and sessions at `now`, in the order asked, one page. Each count is
// an indexed look-up by user id (tokens_user_id, sessions_user_id).
import { sql, type SQL } from "drizzle-orm";
import type { UserListPage } from "./model.ts";

/** `collation`: how names compare, byte by byte on both (SQLite's own BINARY, PostgreSQL's "C"). */
export function userListQuery(page: UserListPage, collation: "collate binary" | 'collate "C"'): SQL {
  const { now, limit, offset } = page;
  const byName = sql.raw(`u.username ${collation}, u.realm ${collation}, u.id`);
  const order =
    page.order === "name" ? byName : page.order === "seen" ? sql.raw("u.last_seen DESC, u.id") : sql.raw("last_sign_in DESC NULLS LAST, u.id");
  return sql`
    SELECT u.username, u.realm, u.first_seen, u.last_seen,
      (SELECT max(s.created_at) FROM sessions s WHERE s.user_id = u.id) AS last_sign_in,
      (SELECT count(*) FROM tokens t WHERE t.user_id = u.id AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ${now})) AS live_tokens,
      (SELECT count(*) FROM sessions s WHERE s.user_id = u.id AND s.revoked_at IS NULL AND s.expires_at > ${now} AND s.refresh_expires_at > ${now}) AS live_sessions
    FROM users u
    ORDER BY ${order}
    LIMIT ${limit} OFFSET ${offset}`;
}
