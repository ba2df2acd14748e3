// The SQLite store behind the StoreBackend interface (./backend.ts): the
// table families' queries (./<family>/sqlite.ts), answering synchronously.
// `read` and a transaction's queries are one object; the hot reads are
// prepared statements.
import { closeSync, openSync, readSync, statSync } from "node:fs";
import type { HotReads, Queries, StoreBackend, StoreChange } from "./backend.ts";
import { checkpointWal, openStore, type Store } from "./database.ts";
import { refusalForOutage } from "./unavailable.ts";
import { StoreChanges } from "./changes.ts";
import { prepareAccountFinder, prepareOwnerLookup, sqliteUserQueries } from "./users/sqlite.ts";
import { prepareTokenLookup, sqliteTokenQueries } from "./tokens/sqlite.ts";
import { prepareSessionLiveness, sqliteSessionQueries } from "./sessions/sqlite.ts";
import { sqliteSignInQueries } from "./sign-in/sqlite.ts";
import { sqliteKeyQueries } from "./signing-keys/sqlite.ts";
import { sqliteAuditQueries } from "./audit/sqlite.ts";
import { sqliteRegulationQueries } from "./regulation/sqlite.ts";
import { sqliteDeviceQueries } from "./device/sqlite.ts";

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
 * The queries over one connection, synchronous: every table family's
 * (./<family>/sqlite.ts). The statements written most often (token
 * creation's) are prepared once there: compiling one costs SQLite more than
 * running it.
 */
function sqliteQueries(store: Store, noteChange: () => void): Queries {
  return {
    ...sqliteUserQueries(store),
    ...sqliteTokenQueries(store),
    ...sqliteSessionQueries(store),
    ...sqliteSignInQueries(store),
    ...sqliteKeyQueries(store),
    ...sqliteAuditQueries(store),
    ...sqliteRegulationQueries(store),
    ...sqliteDeviceQueries(store),
    // Other processes learn of the commit from PRAGMA data_version (./changes.ts); this one from the stamp.
    notify: (_change: StoreChange) => noteChange(),
  };
}
