// The per-request reads on PostgreSQL (docs/postgres-design.md § 2): answered
// from memory when kept, synchronously (a plain value, so /authenticate stays
// synchronous on a hit), else read from PostgreSQL (a promise) and kept.
//
// What is kept, and what drops it (the changes come from PgChangeListener):
// - tokens by hash (id → hash index): `token.revoked {ids}`;
// - sessions by id: `session.revoked`, `session.refreshed {ids}`;
// - accounts by (username, realm) (user id → key index): `account.changed {userIds}`;
// - owners by user id: nothing (names never change; a deleted user's tokens go with it);
// - everything: `flush`, and losing or regaining the listener.
// Only positive answers are kept (a token made on another instance must work
// here at once): a row that is revoked, expired or absent is read each time.
// Expiry is checked against the kept row at each use, so it needs no
// notification.
//
// While the listener is deaf nothing is kept: every read goes to PostgreSQL,
// and fails (a promise that rejects) when it is away, never an answer from
// memory that can no longer be kept true.
//
// A read that started before an invalidation of its kind (or a flush) and ends
// after it is answered but not kept: each kind of entry has a generation,
// moved by every change that drops entries of that kind.
//
// What is kept is frozen: the same object answers every caller.
import type { MaybePromise } from "../../identity/maybe-promise.ts";
import type { HotReads } from "../backend.ts";
import { isLiveSession } from "../sessions/model.ts";
import type { Account } from "../users/model.ts";
import type { TokenCredentialRow } from "../tokens/model.ts";
import type { ChangeFeed } from "./changes.ts";
import type { ChangeMessage, PgHotRows } from "./contract.ts";

type Owner = { username: string; realm: string };

/** A session kept: what liveness needs, and the owner object handed out (no allocation on a hit). */
interface KeptSession {
  expiresAt: number;
  refreshExpiresAt: number;
  owner: Owner;
}

/** A Map bounded to `limit` entries, least recently used dropped first. */
class Lru<K, V> {
  private readonly map = new Map<K, V>();
  constructor(
    private readonly limit: number,
    private readonly onDrop?: (key: K, value: V) => void,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined && this.map.size > 1) {
      // Most recent last: Map keeps insertion order.
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    const previous = this.map.get(key);
    if (previous !== undefined) {
      this.map.delete(key);
      this.onDrop?.(key, previous);
    }
    this.map.set(key, value);
    if (this.map.size > this.limit) {
      const oldest = this.map.keys().next().value as K;
      this.delete(oldest);
    }
  }

  delete(key: K): boolean {
    const value = this.map.get(key);
    if (value === undefined) return false;
    this.map.delete(key);
    this.onDrop?.(key, value);
    return true;
  }

  clear(): void {
    this.map.clear();
  }
}

export interface CacheLimits {
  tokens: number;
  sessions: number;
  accounts: number;
  owners: number;
}

const DEFAULT_LIMITS: CacheLimits = { tokens: 100_000, sessions: 100_000, accounts: 20_000, owners: 100_000 };

/** What is kept is handed to every caller: frozen, so that none can change it for the others. */
function freezeAccount(account: Account): Account {
  if (account.profile) {
    if (account.profile.roles) Object.freeze(account.profile.roles);
    Object.freeze(account.profile);
  }
  return Object.freeze(account);
}

const accountKey = (username: string, realm: string) => `${realm}\u0000${username}`;

export class CachedHotReads implements HotReads {
  private readonly tokenIds = new Map<string, string>(); // token id → hash
  private readonly tokens: Lru<string, TokenCredentialRow>;
  private readonly sessions: Lru<string, KeptSession>;
  private readonly accountKeys = new Map<number, string>(); // user id → account key
  private readonly accounts: Lru<string, Account>;
  private readonly owners: Lru<number, Owner>;
  // One generation per kind of entry: a read keeps its row only if its kind's generation did not move meanwhile.
  private tokenGeneration = 0;
  private sessionGeneration = 0;
  private accountGeneration = 0;
  private ownerGeneration = 0;
  private readonly unsubscribe: () => void;
  /** Figures for tests and metrics. */
  readonly counters = { hits: 0, misses: 0, kept: 0, discarded: 0, evicted: 0, flushes: 0 };

  constructor(
    private readonly rows: PgHotRows,
    private readonly feed: ChangeFeed,
    limits: Partial<CacheLimits> = {},
  ) {
    const { tokens, sessions, accounts, owners } = { ...DEFAULT_LIMITS, ...limits };
    this.tokens = new Lru(tokens, (_hash, row) => this.tokenIds.delete(row.id));
    this.sessions = new Lru(sessions);
    this.accounts = new Lru(accounts, (_key, account) => this.accountKeys.delete(account.userId));
    this.owners = new Lru(owners);
    this.unsubscribe = feed.onChange((message) => this.apply(message));
  }

  /** How many entries are kept, by kind. */
  get sizes(): { tokens: number; sessions: number; accounts: number; owners: number } {
    return { tokens: this.tokens.size, sessions: this.sessions.size, accounts: this.accounts.size, owners: this.owners.size };
  }

  tokenCredential(hash: string): MaybePromise<TokenCredentialRow | null> {
    const kept = this.tokens.get(hash);
    if (kept !== undefined) {
      this.counters.hits++;
      // Expired: answered as read (TokenService.verify refuses it), and no longer kept (only live rows are).
      if (kept.expires_at !== null && kept.expires_at <= Date.now()) this.tokens.delete(hash);
      return kept;
    }
    this.counters.misses++;
    const generation = this.tokenGeneration;
    return this.rows.tokenCredential(hash).then((row) => {
      if (row && row.revoked_at === null && (row.expires_at === null || row.expires_at > Date.now())) {
        if (this.mayKeep(generation, this.tokenGeneration)) {
          this.tokens.set(hash, Object.freeze(row));
          this.tokenIds.set(row.id, hash);
        }
      }
      return row;
    });
  }

  owner(userId: number): MaybePromise<Owner | null> {
    const kept = this.owners.get(userId);
    if (kept !== undefined) {
      this.counters.hits++;
      return kept;
    }
    this.counters.misses++;
    const generation = this.ownerGeneration;
    return this.rows.owner(userId).then((owner) => {
      if (owner && this.mayKeep(generation, this.ownerGeneration)) this.owners.set(userId, Object.freeze(owner));
      return owner;
    });
  }

  sessionOwner(id: string, now: number): MaybePromise<Owner | null> {
    const kept = this.sessions.get(id);
    if (kept !== undefined) {
      this.counters.hits++;
      if (kept.expiresAt > now && kept.refreshExpiresAt > now) return kept.owner;
      // Over: only a notified change could have extended it, and that would have dropped it.
      this.sessions.delete(id);
      return null;
    }
    this.counters.misses++;
    const generation = this.sessionGeneration;
    return this.rows.session(id).then((row) => {
      if (!isLiveSession(row, now)) return null; // the rule prepareSessionLiveness (../sessions/sqlite.ts) applies too
      const owner = Object.freeze({ username: row.username, realm: row.realm });
      if (this.mayKeep(generation, this.sessionGeneration)) {
        this.sessions.set(id, { expiresAt: row.expires_at, refreshExpiresAt: row.refresh_expires_at, owner });
      }
      return owner;
    });
  }

  account(username: string, realm: string): MaybePromise<Account | null> {
    const key = accountKey(username, realm);
    const kept = this.accounts.get(key);
    if (kept !== undefined) {
      this.counters.hits++;
      return kept;
    }
    this.counters.misses++;
    const generation = this.accountGeneration;
    return this.rows.account(username, realm).then((account) => {
      if (account && this.mayKeep(generation, this.accountGeneration)) {
        const previousKey = this.accountKeys.get(account.userId);
        if (previousKey !== undefined && previousKey !== key) this.accounts.delete(previousKey);
        this.accounts.set(key, freezeAccount(account));
        this.accountKeys.set(account.userId, key);
      }
      return account;
    });
  }

  /** Drops everything kept (also what a `flush` change does). */
  flush(): void {
    this.counters.flushes++;
    this.tokenGeneration++;
    this.sessionGeneration++;
    this.accountGeneration++;
    this.ownerGeneration++;
    this.tokens.clear();
    this.tokenIds.clear();
    this.sessions.clear();
    this.accounts.clear();
    this.accountKeys.clear();
    this.owners.clear();
  }

  close(): void {
    this.unsubscribe();
    this.flush();
  }

  private mayKeep(startedAt: number, now: number): boolean {
    const keep = startedAt === now && this.feed.listening;
    if (keep) this.counters.kept++;
    else this.counters.discarded++;
    return keep;
  }

  private apply(message: ChangeMessage): void {
    switch (message.kind) {
      case "token.revoked":
        this.tokenGeneration++;
        for (const id of message.ids) {
          const hash = this.tokenIds.get(id);
          if (hash !== undefined && this.tokens.delete(hash)) this.counters.evicted++;
        }
        return;
      case "session.revoked":
      case "session.refreshed":
        this.sessionGeneration++;
        for (const id of message.ids) if (this.sessions.delete(id)) this.counters.evicted++;
        return;
      case "account.changed":
        this.accountGeneration++;
        for (const userId of message.userIds) {
          const key = this.accountKeys.get(userId);
          if (key !== undefined && this.accounts.delete(key)) this.counters.evicted++;
        }
        return;
      case "flush":
        this.flush();
        return;
      default:
        return; // keys.changed, regulation.changed: not kept here
    }
  }
}
