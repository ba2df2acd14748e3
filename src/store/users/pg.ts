// The users family's queries on PostgreSQL: the same semantics as ./sqlite.ts,
// query for query (the dialect's differences: ../pg/sql.ts).
import { eq, sql } from "drizzle-orm";
import { userProfiles, users } from "./pg-schema.ts";
import { batches, type PgExecutor } from "../pg/sql.ts";
import { userSummary, type Profile, type UserQueries, type UserSummaryRow } from "./model.ts";
import { userListQuery } from "./list.ts";

/** The user queries of `Queries` (./model.ts) over the pool or one transaction. */
export function pgUserQueries(db: PgExecutor): UserQueries {
  const upsertUser = async (username: string, realm: string, at: number): Promise<number> => {
    const [row] = await db
      .insert(users)
      .values({ username, realm, firstSeen: at, lastSeen: at })
      .onConflictDoUpdate({ target: [users.username, users.realm], set: { lastSeen: sql`greatest(${users.lastSeen}, excluded.last_seen)` } })
      .returning({ id: users.id });
    return row!.id;
  };

  return {
    upsertUser,

    async markUsersSeen(seen) {
      // One statement for the whole batch (SQLite runs one UPDATE each: no round trips there).
      for (const batch of batches([...seen])) {
        await db.execute(sql`
          UPDATE users SET last_seen = greatest(users.last_seen, seen.at)
          FROM unnest(${sql.param(batch.map(([id]) => id))}::int8[], ${sql.param(batch.map(([, at]) => at))}::int8[]) AS seen(id, at)
          WHERE users.id = seen.id`);
      }
    },

    async lockUser(userId) {
      await db.select({ id: users.id }).from(users).where(eq(users.id, userId)).for("update");
    },

    async saveProfile(username: string, realm: string, profile: Profile, at: number) {
      const id = await upsertUser(username, realm, at);
      const values = { ...profile, updatedAt: at };
      await db
        .insert(userProfiles)
        .values({ userId: id, ...values })
        .onConflictDoUpdate({ target: userProfiles.userId, set: values });
      return id;
    },

    async listUsers(page) {
      const rows = (await db.execute(userListQuery(page, 'collate "C"'))) as unknown as UserSummaryRow[];
      return rows.map(userSummary);
    },
  };
}
