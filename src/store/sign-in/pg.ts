// The sign-in family's queries on PostgreSQL: the same semantics as
// ./sqlite.ts, query for query (the dialect's differences: ../pg/sql.ts).
import { and, eq, lt } from "drizzle-orm";
import { externalAccounts, signInFlows } from "./pg-schema.ts";
import { users } from "../users/pg-schema.ts";
import type { PgExecutor } from "../pg/sql.ts";
import type { SignInQueries } from "./model.ts";

const externalAccountFields = {
  provider: externalAccounts.provider,
  issuer: externalAccounts.issuer,
  subject: externalAccounts.subject,
  userId: externalAccounts.userId,
  username: users.username,
  realm: users.realm,
  roles: externalAccounts.roles,
  attributes: externalAccounts.attributes,
  refreshTokenSealed: externalAccounts.refreshTokenSealed,
};

/** The sign-in queries of `Queries` (./model.ts) over the pool or one transaction. */
export function pgSignInQueries(db: PgExecutor): SignInQueries {
  return {
    async findExternalAccount(provider, issuer, subject) {
      const [row] = await db
        .select(externalAccountFields)
        .from(externalAccounts)
        .innerJoin(users, eq(users.id, externalAccounts.userId))
        .where(and(eq(externalAccounts.provider, provider), eq(externalAccounts.issuer, issuer), eq(externalAccounts.subject, subject)));
      return row;
    },

    async externalAccountOf(provider, username, realm) {
      const [row] = await db
        .select(externalAccountFields)
        .from(externalAccounts)
        .innerJoin(users, eq(users.id, externalAccounts.userId))
        .where(and(eq(externalAccounts.provider, provider), eq(users.username, username), eq(users.realm, realm)));
      return row;
    },

    async insertExternalAccount(account) {
      await db.insert(externalAccounts).values(account);
    },

    async updateExternalAccount(key, roles, attributes, at, refreshTokenSealed) {
      await db
        .update(externalAccounts)
        .set({ roles, attributes, updatedAt: at, ...(refreshTokenSealed === undefined ? {} : { refreshTokenSealed }) })
        .where(and(eq(externalAccounts.provider, key.provider), eq(externalAccounts.issuer, key.issuer), eq(externalAccounts.subject, key.subject)));
    },

    async findUserId(username, realm) {
      const [row] = await db.select({ id: users.id }).from(users).where(and(eq(users.username, username), eq(users.realm, realm)));
      return row?.id;
    },

    async insertSignInFlow(flow) {
      await db.insert(signInFlows).values(flow);
    },

    async takeSignInFlow(stateHash) {
      const [row] = await db.delete(signInFlows).where(eq(signInFlows.stateHash, stateHash)).returning();
      return row;
    },

    async deleteExpiredSignInFlows(now) {
      const rows = await db.delete(signInFlows).where(lt(signInFlows.expiresAt, now)).returning({ stateHash: signInFlows.stateHash });
      return rows.length;
    },
  };
}
