// The SQLite store behind the StoreBackend interface (./backend.ts): the
// table functions of this folder, answering synchronously. `read` and a
// transaction's queries are one object; the hot reads are prepared statements.
import { closeSync, openSync, readSync, statSync } from "node:fs";
import type { HotReads, Queries, StoreBackend, StoreChange } from "./backend.ts";
import { checkpointWal, openStore, type Store } from "./database.ts";
import { refusalForOutage } from "./unavailable.ts";
import { StoreChanges } from "./changes.ts";
import { markUsersSeen, prepareOwnerLookup, prepareUpsertUser } from "./users.ts";
import {
  deleteEndedTokens,
  findToken,
  findTokenByHash,
  tokenIdWithFormNonce,
  listTokens,
  markDescendantsRevoked,
  markOwnerTokensRevoked,
  markSessionTokensRevoked,
  markTokenRevoked,
  markTokenRotated,
  markFamilyRevoked,
  markUnusedTokensRevoked,
  countTokensExpiring,
  markExpiryNotified,
  markTokensUsed,
  prepareInsertToken,
  prepareTokenLookup,
} from "./tokens.ts";
import { firstEightOf, prepareRecordFirstEight, tokensWithFirstEight } from "./token-first-eight.ts";
import {
  countLiveSessions,
  deleteEndedSessions,
  findRefreshToken,
  findSession,
  forgetUsedRefreshTokens,
  insertRefreshToken,
  insertSession,
  listSessions,
  markRefreshTokenUsed,
  markSessionRefreshed,
  markSessionsRevoked,
  prepareSessionLiveness,
  saveSessionIdentity,
  insertSessionHandle,
  prepareSessionByHandle,
} from "./sessions.ts";
import {
  deleteExpiredSignInFlows,
  externalAccountOf,
  findExternalAccount,
  findUserId,
  insertExternalAccount,
  insertSignInFlow,
  takeSignInFlow,
  updateExternalAccount,
} from "./sign-in.ts";
import { allKeys, insertKey, keysInState, liveKeys, makeCurrent, makePrevious, previousKeysDue, retireKeys } from "./signing-keys.ts";
import { completeAuditRow, listAudit, prepareAuditWriter, recordAggregatedAudit, searchAudit } from "./audit.ts";
import { auditEventsSince, listAuditPage, newestAuditId, purgeAudit } from "./audit-query.ts";
import { activeBans, deleteRegulationCounter, regulationCounter, releaseRegulation, saveRegulationCounter } from "./regulation.ts";
import { prepareAccountFinder, prepareProfileWriter } from "./profiles.ts";
import { sqliteDeviceQueries } from "./device.ts";

const SQLITE_HEADER = "SQLite format 3\u0000";

export interface SqliteBackendOptions {
  migrate?: boolean;
  onUnavailable?: StoreBackend["onUnavailable"];
}

export function openSqliteBackend(path: string, options: SqliteBackendOptions = {}): SqliteBackend {
  return new SqliteBackend(openStore(path, options), path);
}

export class SqliteBackend implements StoreBackend {
  readonly type = "sqlite" as const;
  readonly hot: HotReads;
  readonly changes: StoreChanges;
  readonly read: Queries;
  /** Settles when the transaction running (or the last one queued) has ended. */
  private lastTransaction: Promise<unknown> = Promise.resolve();
  /** Set by notify() inside a transaction: this process's remembered answers are void once it commits. */
  private changedInTransaction = false;
  private readonly inode: number | null;
  private readonly probe: () => unknown;

  constructor(
    /** The raw store, for tests and SQLite-only tools (migrate, import). */
    readonly store: Store,
    /** The database file, or ":memory:". */
    readonly path: string,
  ) {
    this.changes = new StoreChanges(store);
    this.read = sqliteQueries(store, () => this.noteChange());
    this.hot = {
      tokenCredential: prepareTokenLookup(store),
      owner: prepareOwnerLookup(store),
      sessionOwner: prepareSessionLiveness(store),
      account: prepareAccountFinder(store),
    };
    this.inode = path === ":memory:" ? null : statSync(path).ino;
    const probe = store.sqlite.prepare("SELECT count(*) AS n FROM (SELECT 1 FROM sqlite_schema LIMIT 1)");
    this.probe = () => probe.get();
  }

  get onUnavailable(): StoreBackend["onUnavailable"] {
    return this.store.onUnavailable;
  }

  set onUnavailable(report: StoreBackend["onUnavailable"]) {
    this.store.onUnavailable = report;
  }

  /**
   * One immediate transaction (the write lock is taken at BEGIN, so another
   * process's writer waits on the busy timeout instead of failing half-way).
   * This process's transactions run one at a time, in the order asked.
   *
   * They share the connection with the hot reads and `read`: a read made by
   * another request while this transaction awaits between its statements
   * sees its uncommitted writes. Harmless: nobody holds a new token's or
   * session's secret before the commit is answered, and a revocation seen
   * early only refuses sooner. (On SQLite `await` of a query is a microtask:
   * no I/O callback, so no new request, runs inside a transaction unless its
   * work awaits something else, which the rule in ./backend.ts forbids.)
   */
  transaction<T>(work: (q: Queries) => Promise<T>): Promise<T> {
    const run = this.lastTransaction.then(() => this.runImmediate(work));
    this.lastTransaction = run.catch(() => undefined);
    return run;
  }

  private async runImmediate<T>(work: (q: Queries) => Promise<T>): Promise<T> {
    const { sqlite } = this.store;
    try {
      sqlite.exec("BEGIN IMMEDIATE");
    } catch (error) {
      throw refusalForOutage(error, this.onUnavailable);
    }
    this.changedInTransaction = false;
    try {
      const result = await work(this.read);
      sqlite.exec("COMMIT");
      if (this.changedInTransaction) this.changes.bump();
      return result;
    } catch (error) {
      // A failed statement (a full disk) may have ended the transaction already.
      if (sqlite.inTransaction) sqlite.exec("ROLLBACK");
      // A full disk or a lock held past the busy timeout: a 503 the caller can retry, not a 500.
      throw refusalForOutage(error, this.onUnavailable);
    } finally {
      this.changedInTransaction = false;
    }
  }

  private noteChange(): void {
    // Inside a transaction: applied when it commits. Outside one, at once.
    if (this.store.sqlite.inTransaction) this.changedInTransaction = true;
    else this.changes.bump();
  }

  /**
   * SQLite keeps its file open and pages in memory, so a query alone can
   * succeed on a file that was deleted, replaced or overwritten meanwhile: the
   * check also reads the file's header from its path and compares the inode.
   */
  async check(): Promise<void> {
    let problem: string | null;
    try {
      problem = this.fileProblem();
      if (!problem) this.probe();
    } catch (error) {
      problem = `the store does not answer: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
    }
    if (problem) throw new Error(problem);
  }

  private fileProblem(): string | null {
    if (this.inode === null) return null;
    if (statSync(this.path).ino !== this.inode) return "the database file was replaced or removed";
    const header = Buffer.alloc(16);
    const fd = openSync(this.path, "r");
    try {
      readSync(fd, header, 0, 16, 0);
    } finally {
      closeSync(fd);
    }
    return header.toString("latin1") === SQLITE_HEADER ? null : "the database file is not a SQLite database any more";
  }

  /** Copies the write-ahead log into the file so that it shrinks back (after a purge); answers the pages left in it. */
  checkpoint(): number {
    return checkpointWal(this.store.sqlite);
  }

  async close(): Promise<void> {
    await this.lastTransaction;
    this.store.close();
  }
}

/**
 * The queries over one connection, synchronous. The statements written most
 * often (token creation's) are prepared once: compiling one costs SQLite more
 * than running it.
 */
function sqliteQueries(store: Store, noteChange: () => void): Queries {
  const { db, sqlite } = store;
  const insertToken = prepareInsertToken(store);
  const writeAudit = prepareAuditWriter(store);
  const saveProfile = prepareProfileWriter(store);
  const none = () => {};
  return {
    upsertUser: prepareUpsertUser(store),
    markUsersSeen: (seen) => markUsersSeen(db, seen),
    lockUser: none, // the immediate transaction holds the write lock already

    insertToken: (token) => insertToken(token),
    findToken: (id) => findToken(db, id),
    findTokenByHash: (hash) => findTokenByHash(db, hash),
    tokenIdWithFormNonce: (nonce) => tokenIdWithFormNonce(db, nonce),
    listTokens: (filter) => listTokens(db, filter),
    markTokenRevoked: (id, at, reason) => markTokenRevoked(db, id, at, reason),
    markTokenRotated: (id, to, until) => markTokenRotated(db, id, to, until),
    markFamilyRevoked: (familyId, at, reason) => markFamilyRevoked(db, familyId, at, reason),
    markUnusedTokensRevoked: (cutoff, at, reason, limit) => markUnusedTokensRevoked(db, cutoff, at, reason, limit),
    countTokensExpiring: (now, untils) => countTokensExpiring(db, now, untils),
    markExpiryNotified: (now, until, limit) => markExpiryNotified(db, now, until, limit),
    markDescendantsRevoked: (ids, at) => markDescendantsRevoked(db, ids, at),
    markSessionTokensRevoked: (sessionIds, at) => markSessionTokensRevoked(db, sessionIds, at),
    markOwnerTokensRevoked: (owner, at) => markOwnerTokensRevoked(db, owner, at),
    markTokensUsed: (uses) => markTokensUsed(db, uses),
    recordFirstEight: prepareRecordFirstEight(store),
    firstEightOf: (tokenIds) => firstEightOf(db, tokenIds),
    tokensWithFirstEight: (firstEight) => tokensWithFirstEight(db, firstEight),

    insertSession: (session) => insertSession(db, session),
    findSession: (id) => findSession(db, id),
    listSessions: (filter) => listSessions(db, filter),
    countLiveSessions: (userId, now) => countLiveSessions(db, userId, now),
    markSessionsRevoked: (ids, at, reason) => markSessionsRevoked(db, ids, at, reason),
    markSessionRefreshed: (id, at, refreshExpiresAt) => markSessionRefreshed(db, id, at, refreshExpiresAt),
    insertRefreshToken: (token) => insertRefreshToken(db, token),
    // `forUpdate` needs nothing here: the immediate transaction is the only writer.
    findRefreshToken: (hash) => findRefreshToken(db, hash),
    markRefreshTokenUsed: (id, at) => markRefreshTokenUsed(db, id, at),
    forgetUsedRefreshTokens: (sessionId, before) => forgetUsedRefreshTokens(db, sessionId, before),
    findExternalAccount: (provider, issuer, subject) => findExternalAccount(db, provider, issuer, subject),
    externalAccountOf: (provider, username, realm) => externalAccountOf(db, provider, username, realm),
    insertExternalAccount: (account) => insertExternalAccount(db, account),
    updateExternalAccount: (key, roles, attributes, at, sealed) => updateExternalAccount(db, key, roles, attributes, at, sealed),
    findUserId: (username, realm) => findUserId(db, username, realm),
    insertSignInFlow: (flow) => insertSignInFlow(db, flow),
    takeSignInFlow: (stateHash) => takeSignInFlow(db, stateHash),
    deleteExpiredSignInFlows: (now) => deleteExpiredSignInFlows(db, now),
    saveSessionIdentity: (id, identity, expiresAt) => saveSessionIdentity(db, id, identity, expiresAt),
    insertSessionHandle: (handle) => insertSessionHandle(db, handle),
    findSessionByHandle: prepareSessionByHandle(store),

    lockKeys: none,
    liveKeys: () => liveKeys(db),
    allKeys: () => allKeys(db),
    insertKey: (row) => insertKey(db, row),
    keysInState: (state) => keysInState(db, state),
    makePrevious: (kid, at, retiresAt) => makePrevious(db, kid, at, retiresAt),
    makeCurrent: (kid, at) => makeCurrent(db, kid, at),
    retireKeys: (kids, at) => retireKeys(db, kids, at),
    previousKeysDue: (now) => previousKeysDue(db, now),

    recordAudit: (event) => writeAudit(completeAuditRow(event)),
    recordAggregatedAudit: (row) => recordAggregatedAudit(db, row),
    listAudit: (options) => listAudit(db, options),
    searchAudit: (filter) => searchAudit(db, filter),
    listAuditPage: (filter) => listAuditPage(db, filter),
    purgeAudit: (before) => purgeAudit(db, before),
    newestAuditId: () => newestAuditId(sqlite),
    auditEventsSince: (afterId) => auditEventsSince(sqlite, afterId),

    regulationCounter: (kind, subject) => regulationCounter(db, kind, subject),
    saveRegulationCounter: (counter) => saveRegulationCounter(db, counter),
    deleteRegulationCounter: (kind, subject) => deleteRegulationCounter(db, kind, subject),
    releaseRegulation: (now, findTimeMs) => releaseRegulation(db, now, findTimeMs),
    activeBans: (now) => activeBans(db, now),

    saveProfile: (username, realm, profile, at) => saveProfile(username, realm, profile, at),

    ...sqliteDeviceQueries(store),

    deleteEndedSessions: (cutoff, limit) => deleteEndedSessions(store, cutoff, limit),
    deleteEndedTokens: (cutoff, limit) => deleteEndedTokens(store, cutoff, limit),

    // Other processes learn of the commit from PRAGMA data_version (./changes.ts); this one from the stamp.
    notify: (_change: StoreChange) => noteChange(),
  };
}
