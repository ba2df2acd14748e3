// The tables of signing in with an identity provider (providers/oidc.ts,
// sign-in/), on SQLite (their PostgreSQL twins: ./pg.ts): external accounts by
// (provider, issuer, subject), and the sign-ins under way (single use: taken,
// that is read and deleted, at once).
import { and, eq, lt } from "drizzle-orm";
import { externalAccounts, signInFlows } from "./sqlite-schema.ts";
import { users } from "../users/sqlite-schema.ts";
import type { Executor, Store } from "../database.ts";
import type { ExternalAccountKey, ExternalAccountRecord, NewExternalAccount, SignInFlowRow, SignInQueries } from "./model.ts";

const accountFields = {
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

export function findExternalAccount(db: Executor, provider: string, issuer: string, subject: string): ExternalAccountRecord | undefined {
  return db
    .select(accountFields)
    .from(externalAccounts)
    .innerJoin(users, eq(users.id, externalAccounts.userId))
    .where(and(eq(externalAccounts.provider, provider), eq(externalAccounts.issuer, issuer), eq(externalAccounts.subject, subject)))
    .all()[0];
}

/** The account a provider linked to this username, whatever its subject. */
export function externalAccountOf(db: Executor, provider: string, username: string, realm: string): ExternalAccountRecord | undefined {
  return db
    .select(accountFields)
    .from(externalAccounts)
    .innerJoin(users, eq(users.id, externalAccounts.userId))
    .where(and(eq(externalAccounts.provider, provider), eq(users.username, username), eq(users.realm, realm)))
    .all()[0];
}

export function insertExternalAccount(db: Executor, account: NewExternalAccount): void {
  db.insert(externalAccounts).values(account).run();
}

/** Records what the provider said now; `refreshTokenSealed` undefined keeps the one kept. */
export function updateExternalAccount(db: Executor, key: ExternalAccountKey, roles: string[], attributes: Record<string, string>, at: number, refreshTokenSealed?: string | null): void {
  db.update(externalAccounts)
    .set({ roles, attributes, updatedAt: at, ...(refreshTokenSealed === undefined ? {} : { refreshTokenSealed }) })
    .where(and(eq(externalAccounts.provider, key.provider), eq(externalAccounts.issuer, key.issuer), eq(externalAccounts.subject, key.subject)))
    .run();
}

export function findUserId(db: Executor, username: string, realm: string): number | undefined {
  return db.select({ id: users.id }).from(users).where(and(eq(users.username, username), eq(users.realm, realm))).all()[0]?.id;
}

export function insertSignInFlow(db: Executor, flow: typeof signInFlows.$inferInsert): void {
  db.insert(signInFlows).values(flow).run();
}

/** The flow of this state, deleted as it is read: a state is good for one callback. */
export function takeSignInFlow(db: Executor, stateHash: string): SignInFlowRow | undefined {
  return db.delete(signInFlows).where(eq(signInFlows.stateHash, stateHash)).returning().all()[0];
}

export function deleteExpiredSignInFlows(db: Executor, now: number): number {
  return db.delete(signInFlows).where(lt(signInFlows.expiresAt, now)).returning({ stateHash: signInFlows.stateHash }).all().length;
}

/** The sign-in queries of `Queries` (./model.ts) over one connection, synchronous. */
export function sqliteSignInQueries(store: Store): SignInQueries {
  const { db } = store;
  return {
    findExternalAccount: (provider, issuer, subject) => findExternalAccount(db, provider, issuer, subject),
    externalAccountOf: (provider, username, realm) => externalAccountOf(db, provider, username, realm),
    insertExternalAccount: (account) => insertExternalAccount(db, account),
    updateExternalAccount: (key, roles, attributes, at, sealed) => updateExternalAccount(db, key, roles, attributes, at, sealed),
    findUserId: (username, realm) => findUserId(db, username, realm),
    insertSignInFlow: (flow) => insertSignInFlow(db, flow),
    takeSignInFlow: (stateHash) => takeSignInFlow(db, stateHash),
    deleteExpiredSignInFlows: (now) => deleteExpiredSignInFlows(db, now),
  };
}
