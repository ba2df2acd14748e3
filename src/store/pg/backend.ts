// The PostgreSQL store behind the services' interface (`StoreBackend`,
// ../backend.ts): every query through `pgQueries` (below: the table families'
// ../<family>/pg.ts), on the pool outside a transaction (`read`) or inside one
// (`transaction`); the hot reads
// and the change stamp come from the parts passed in (the LISTEN listener,
// ./changes.ts, and the cache over ./hot-rows.ts, ./cache.ts), so that this
// file knows nothing of either.
//
// A transaction is drizzle's over Bun's `begin()`: BEGIN, the work, COMMIT,
// and ROLLBACK when the work throws. Only store queries are awaited inside it
// (see ../backend.ts). When the database cannot serve (unreachable, shutting
// down, out of connections, a deadlock or serialisation failure with another
// instance), the caller gets a 503 Refusal that says to try again, never the
// driver's message (it could name the server); `onUnavailable` logs why.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { Refusal } from "../../refusal.ts";
import type { HotReads, Queries, StoreBackend, StoreChange, StoreChanges } from "../backend.ts";
import { migratePg, openPgDatabase, pgClientOptions, type PgDatabase, type PgSettings } from "./database.ts";
import { CHANGES_CHANNEL, encodeChange } from "./contract.ts";
import type { PgExecutor } from "./sql.ts";
import { pgUserQueries } from "../users/pg.ts";
import { pgTokenQueries } from "../tokens/pg.ts";
import { pgSessionQueries } from "../sessions/pg.ts";
import { pgSignInQueries } from "../sign-in/pg.ts";
import { pgKeyQueries } from "../signing-keys/pg.ts";
import { pgAuditQueries } from "../audit/pg.ts";
import { pgRegulationQueries } from "../regulation/pg.ts";
import { pgDeviceQueries } from "../device/pg.ts";
import { PgChangeListener, type ListenLog } from "./changes.ts";
import { CachedHotReads, type CacheLimits } from "./cache.ts";
import { createPgReadinessCheck } from "./readiness.ts";
import { pgHotRows } from "./hot-rows.ts";

export interface PgBackendOptions {
  database: PgDatabase;
  /** The change stamp (./changes.ts' PgChangeListener; a stand-in in tests). */
  changes: StoreChanges;
  /** The hot reads (./cache.ts over ./hot-rows.ts; or the rows themselves, uncached). */
  hot: HotReads;
  /** Names this instance in the notifications it sends (default: a random UUID). */
  instanceId?: string;
  /**
   * Applies a change committed through this instance here at once, rather
   * than when its own notification comes back (PgChangeListener.publish).
   * Called after the commit, once for each change the transaction notified.
   */
  publish?: (change: StoreChange) => void;
  /** Subscribes to every change any instance commits (PgChangeListener.onChange). */
  subscribe?: (listener: (change: StoreChange) => void) => () => void;
  /** /ready's check (./readiness.ts: SELECT 1 kept a second, and the listener listening); default: SELECT 1. */
  readiness?: () => Promise<void>;
  /** Closed with the backend, before the pool (the listener). */
  closeAlso?: () => Promise<void>;
  onUnavailable?: (reason: string, error: unknown) => void;
}

/** What the caller of a write is told when the database cannot serve it. */
export const STORE_UNAVAILABLE = "store unavailable, try again";

/** SQLSTATE classes and codes that mean "not now" rather than "wrong": the request may simply be retried. */
const SQLSTATE_REASONS: [RegExp, string][] = [
  [/^08/, "the connection to the database failed"],
  [/^57P0[123]$/, "the database is shutting down or starting up"],
  [/^53/, "the database is out of resources (connections, memory or disk)"],
  [/^40001$/, "a serialisation conflict with another transaction"],
  [/^40P01$/, "a deadlock with another transaction"],
  [/^25006$/, "the database is read-only (a standby?)"],
  [/^55P03$/, "a lock could not be obtained in time"],
  [/^57014$/, "the query was cancelled (statement timeout)"],
];

/** The reason when `error` (or its cause: drizzle wraps the driver's) is an outage or a transient conflict; null for anything else. */
export function pgOutageReason(error: unknown): string | null {
  for (let current = error, depth = 0; current && depth < 4; current = (current as { cause?: unknown }).cause, depth++) {
    const { code, errno } = current as { code?: unknown; errno?: unknown };
    if (typeof errno === "string") {
      for (const [pattern, reason] of SQLSTATE_REASONS) if (pattern.test(errno)) return `${reason} (${errno})`;
    }
    if (typeof code !== "string") continue;
    if (/^ERR_POSTGRES_(CONNECTION_|IDLE_TIMEOUT|LIFETIME_TIMEOUT|TLS_|QUERY_CANCELLED)/.test(code)) return `the database cannot be reached (${code})`;
    if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|ENOTFOUND|EAI_AGAIN)$/.test(code)) return `the database cannot be reached (${code})`;
  }
  return null;
}

/** A 503 Refusal for an outage (told to `report`), or the error unchanged. */
export function refusalForPgOutage(error: unknown, report?: (reason: string, error: unknown) => void): unknown {
  if (error instanceof Refusal) return error;
  const reason = pgOutageReason(error);
  if (reason === null) return error;
  report?.(reason, error);
  return new Refusal(503, STORE_UNAVAILABLE, { "retry-after": "1" });
}

/**
 * The Queries of one transaction (or of the pool, outside one): every table
 * family's (../<family>/pg.ts); `instanceId` names this instance in
 * notifications.
 *
 * What PostgreSQL needs and SQLite does not (SQLite serialises writers): the
 * row locks and the transaction lock that give concurrent instances one
 * winner (`findRefreshToken({ forUpdate })`, `lockUser`, `lockKeys`,
 * `regulationCounter({ forUpdate })`), and `notify`, which tells every
 * instance of a change when the transaction commits (never on rollback).
 */
export function pgQueries(db: PgExecutor, instanceId: string): Queries {
  return {
    ...pgUserQueries(db),
    ...pgTokenQueries(db),
    ...pgSessionQueries(db),
    ...pgSignInQueries(db),
    ...pgKeyQueries(db),
    ...pgAuditQueries(db),
    ...pgRegulationQueries(db),
    ...pgDeviceQueries(db),

    async notify(change: StoreChange) {
      // Inside the transaction: PostgreSQL delivers it when the transaction commits, and never on rollback.
      await db.execute(sql`SELECT pg_notify(${CHANGES_CHANNEL}, ${encodeChange(change, instanceId)})`);
    },
  };
}

/** The queries with every failure that is an outage turned into the 503 Refusal. */
function refusingOutages(queries: Queries, report: () => PgBackendOptions["onUnavailable"]): Queries {
  const wrapped = {} as Record<string, unknown>;
  for (const [name, method] of Object.entries(queries)) {
    wrapped[name] = async (...args: unknown[]) => {
      try {
        return await (method as (...args: unknown[]) => unknown)(...args);
      } catch (error) {
        throw refusalForPgOutage(error, report());
      }
    };
  }
  return wrapped as unknown as Queries;
}

export class PgBackend implements StoreBackend {
  readonly type = "postgres" as const;
  readonly hot: HotReads;
  readonly changes: StoreChanges;
  readonly read: Queries;
  readonly instanceId: string;
  onUnavailable?: (reason: string, error: unknown) => void;
  private readonly options: PgBackendOptions;

  constructor(options: PgBackendOptions) {
    this.options = options;
    this.hot = options.hot;
    this.changes = options.changes;
    this.instanceId = options.instanceId ?? randomUUID();
    this.onUnavailable = options.onUnavailable;
    this.read = refusingOutages(pgQueries(options.database.db as unknown as PgExecutor, this.instanceId), () => this.onUnavailable);
  }

  async transaction<T>(work: (q: Queries) => Promise<T>): Promise<T> {
    const notified: StoreChange[] = [];
    let result: T;
    try {
      result = await this.options.database.db.transaction(async (tx) => {
        const queries = pgQueries(tx as unknown as PgExecutor, this.instanceId);
        const notify = queries.notify;
        queries.notify = async (change) => {
          await notify(change);
          notified.push(change);
        };
        return work(queries);
      });
    } catch (error) {
      throw refusalForPgOutage(error, this.onUnavailable);
    }
    // Committed: what it changed applies here at once (other instances hear of it by NOTIFY).
    if (notified.length > 0) {
      if (this.options.publish) for (const change of notified) this.options.publish(change); // moves the stamp too
      else this.changes.bump();
    }
    return result;
  }

  onChange(listener: (change: StoreChange) => void): () => void {
    return this.options.subscribe?.(listener) ?? (() => {});
  }

  async check(): Promise<void> {
    if (this.options.readiness) return this.options.readiness();
    try {
      await this.options.database.sql`SELECT 1`;
    } catch (error) {
      const reason = pgOutageReason(error) ?? (error as { code?: string }).code ?? "an error";
      throw new Error(`the store does not answer: ${reason}`);
    }
  }

  async close(): Promise<void> {
    try {
      await this.options.closeAlso?.();
    } finally {
      await this.options.database.close();
    }
  }
}

export interface OpenPgBackendOptions {
  /** Migrate first (default true; with server.workers the supervisor migrates and the workers do not). */
  migrate?: boolean;
  /** store.listen.lost / store.listen.restored lines (a Logger). */
  log?: ListenLog;
  onUnavailable?: (reason: string, error: unknown) => void;
  cacheLimits?: Partial<CacheLimits>;
  /** Times /ready's query (gatehouse_store_query_duration_seconds). */
  timeQuery?: <T>(query: string, run: () => Promise<T>) => Promise<T>;
  instanceId?: string;
}

/**
 * One instance's PostgreSQL store, every part wired: migrated (under the
 * advisory lock), the query pool, the LISTEN listener (./changes.ts) as the
 * change stamp and the source of local publishing, the hot reads cached over
 * the rows (./cache.ts, ./hot-rows.ts), and /ready's check (./readiness.ts).
 * A listener that cannot LISTEN yet keeps trying by itself (deaf meanwhile:
 * nothing cached, /ready failing).
 */
export async function openPgBackend(settings: PgSettings, options: OpenPgBackendOptions = {}): Promise<PgBackend> {
  if (options.migrate !== false) await migratePg(settings);
  const database = openPgDatabase(settings);
  const instanceId = options.instanceId ?? randomUUID();
  const listener = new PgChangeListener({
    url: settings.url,
    instanceId,
    pool: database.sql,
    log: options.log,
    tls: pgClientOptions(settings).tls,
  });
  await listener.start().catch(() => {});
  const hot = new CachedHotReads(pgHotRows(database.sql), listener, options.cacheLimits);
  return new PgBackend({
    database,
    changes: listener,
    hot,
    instanceId,
    publish: (change) => listener.publish(change),
    subscribe: (subscriber) => listener.onChange(subscriber),
    readiness: createPgReadinessCheck({ pool: database.sql, listener, url: settings.url, timeQuery: options.timeQuery }),
    closeAlso: async () => {
      hot.close();
      await listener.close();
    },
    onUnavailable: options.onUnavailable,
  });
}
