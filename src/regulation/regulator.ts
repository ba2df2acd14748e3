// Regulation of guessing, as Authelia's: after `max_retries` failed password
// or API-key attempts for one username within `find_time`, and separately
// after `address_max_retries` from one client address, further attempts are
// refused for `ban_time` without checking the credential (no argon2 run, no
// call to a remote key service). A success resets the username's count.
//
// Counters and bans live in the store (table regulation_counters), so every
// instance sharing it bans alike. Reading the store on every attempt would
// cost a query each; active bans are kept in memory instead and re-read only
// when the store has changed (the store's change stamp: on SQLite its
// data_version, asked at most once a millisecond, as for revocations).
//
// What is never regulated: Gatehouse's own API tokens and sessions. They are
// random 178-bit secrets checked by a hash lookup, nobody guesses them, and a
// valid one must never be refused because someone else failed from the same
// address (behind nginx, every request comes from nginx's address).
//
// A username is counted per realm ("local:alice", see usernameSubject): alice
// of the directory and alice of the config are different people, and a guess
// against one bans only that one. Addresses are counted across realms: one
// guesser is one guesser wherever it guesses.
import type { StoreBackend } from "../store/backend.ts";
import type { RegulationCounter } from "../store/regulation/model.ts";
import { isPromise, type MaybePromise } from "../identity/maybe-promise.ts";
import type { Logger } from "../log.ts";
import type { Ban, BanKind } from "../identity/regulation-gate.ts";
import { auditRow, type AuditActor } from "../store/audit/model.ts";

export interface RegulationPolicy {
  maxRetries: number;
  addressMaxRetries: number;
  findTimeMs: number;
  banTimeMs: number;
}

/** Subjects are attacker-chosen: bounded before they reach the store or a log line. */
const MAX_SUBJECT_LENGTH = 256;
const bound = (subject: string) => subject.slice(0, MAX_SUBJECT_LENGTH);
/** The key of a subject (already bounded) in the maps of bans and of failures being counted. */
const banKey = (kind: string, subject: string) => `${kind}\u0000${subject}`;

/**
 * The name regulation counts a username under: the one spelling that every
 * way of typing it comes to. Directories match names case-insensitively and
 * ignore surrounding and repeated spaces (OpenLDAP signs `JDoe`, ` jdoe` and
 * `jdoe\u00a0` in as jdoe), so counting the name as typed let a guesser spread
 * their guesses over spellings, none of which ever reached the limit. Applied
 * for every provider, case-sensitive ones included: the identity keeps its
 * username as it is, only the count is shared, and two config users differing
 * only in case share a count (stricter, never looser). NFKC folds compatibility
 * forms (fullwidth letters), and invisible characters (soft hyphen, zero-width
 * space) are dropped, as RFC 4518's string preparation maps them to nothing.
 */
export function regulatedName(username: string): string {
  return username
    .normalize("NFKC")
    .replace(/\p{Default_Ignorable_Code_Point}/gu, "")
    .replace(/\s+/gu, " ")
    .trim()
    .toLowerCase();
}

/**
 * The subject a username is counted and banned under in one realm:
 * `realm:name`, the realm's own `%` and `:` escaped so that no realm and
 * username can pass for another pair. Rows written before subjects had a realm
 * (a bare name) match nothing any more: they end by themselves, within
 * ban_time for a ban and find_time for a count, and the sweep deletes them.
 */
export function usernameSubject(realm: string, username: string): string {
  return bound(`${realm.replace(/[%:]/g, (char) => (char === "%" ? "%25" : "%3A"))}:${regulatedName(username)}`);
}

/** The realm and name of a username subject, for the audit; a row from before realms (no `:`) has no realm. */
function partsOf(subject: string): { realm: string | null; username: string } {
  const colon = subject.indexOf(":");
  if (colon < 0) return { realm: null, username: subject };
  return { realm: subject.slice(0, colon).replace(/%(25|3A)/g, (_, code) => (code === "25" ? "%" : ":")), username: subject.slice(colon + 1) };
}

/** After a failed re-read of the bans, how long attempts use the bans read before without waiting. */
const RELOAD_RETRY_MS = 1000;

export class Regulator {
  /** Active bans, "kind\0subject" → end (ms), as last read from the store. */
  private bans = new Map<string, number>();
  private loadedStamp = -1;
  private ownWrites = 0;
  private loadedOwnWrites = -1;
  /** The re-read of the bans in flight (PostgreSQL), which attempts wait for. */
  private reloading: Promise<void> | null = null;
  private reloadFailedAt = -Infinity;
  /** Failures being written, by "kind\0subject": the next attempt of that subject waits for the count. */
  private readonly pendingFailures = new Map<string, Promise<void>>();

  constructor(
    private readonly store: StoreBackend,
    readonly policy: RegulationPolicy,
    private readonly logger: Logger,
    /** Times store queries (gatehouse_store_query_duration_seconds). */
    private readonly timeQuery: <T>(query: string, run: () => T) => T = (_query, run) => run(),
  ) {}

  /**
   * The ban that applies to an attempt by this username from this address, if
   * any. At once from memory; on a store that answers later (PostgreSQL) an
   * attempt waits for the failures of its subjects still being counted and for
   * a re-read of the bans in flight, so that the attempt after a banning
   * failure is refused whatever the store's latency. `username` is a
   * username subject (usernameSubject).
   */
  banFor(username: string | null, address: string | null, now = Date.now()): MaybePromise<Ban | null> {
    const waitFor = this.refresh(now) ?? this.pendingFailureOf(username, address);
    if (waitFor) return waitFor.then(() => this.banFor(username, address));
    if (this.bans.size === 0) return null;
    for (const [kind, subject] of [
      ["username", username],
      ["address", address],
    ] as const) {
      if (subject === null) continue;
      const until = this.bans.get(banKey(kind, bound(subject)));
      if (until !== undefined && until > now) return { kind, retryAfterSeconds: Math.max(1, Math.ceil((until - now) / 1000)), endsAt: until };
    }
    return null;
  }

  /**
   * Whether the username subject's ban (its key: usernameBanKey) that ends at `until` is still in force:
   * the bans re-read first if the store has changed (a release, another
   * instance's write). While a re-read is in flight (PostgreSQL) the answer is
   * no, and the caller asks the gate again, which waits for it.
   */
  usernameBanHolds(key: string, until: number, now = Date.now()): boolean {
    if (until <= now || this.refresh(now)) return false;
    return this.bans.get(key) === until;
  }

  /** The key usernameBanHolds takes for a username subject: made once per ban, not at every answer from memory. */
  usernameBanKey(username: string): string {
    return banKey("username", bound(username));
  }

  private pendingFailureOf(username: string | null, address: string | null): Promise<void> | undefined {
    if (this.pendingFailures.size === 0) return undefined;
    return (
      (username !== null ? this.pendingFailures.get(banKey("username", bound(username))) : undefined) ??
      (address !== null ? this.pendingFailures.get(banKey("address", bound(address))) : undefined)
    );
  }

  /**
   * One failed attempt (one refused credential, however many providers refused
   * it): one failure for each username subject (one per realm whose providers
   * refused it) and one for the address.
   */
  recordFailure(usernames: readonly string[], address: string | null, now = Date.now()): Promise<void> {
    const subjects: [BanKind, string, number][] = [];
    for (const username of new Set(usernames)) subjects.push(["username", bound(username), this.policy.maxRetries]);
    if (address !== null) subjects.push(["address", bound(address), this.policy.addressMaxRetries]);
    if (subjects.length === 0) return Promise.resolve();
    const written = this.countFailure(subjects, now);
    const settled = written.then(
      () => {},
      () => {},
    );
    const keys = subjects.map(([kind, subject]) => banKey(kind, subject));
    for (const key of keys) this.pendingFailures.set(key, settled);
    void settled.then(() => {
      for (const key of keys) if (this.pendingFailures.get(key) === settled) this.pendingFailures.delete(key);
    });
    return written;
  }

  private async countFailure(subjects: [BanKind, string, number][], now: number): Promise<void> {
    const banned = await this.timeQuery("regulation_record", () =>
      this.store.transaction(async (q) => {
        const newBans: [BanKind, string, number][] = [];
        for (const [kind, subject, limit] of subjects) {
          // Locked (PostgreSQL): failures counted at once by several instances are all counted, and ban once.
          const row = await q.regulationCounter(kind, subject, { forUpdate: true });
          if (row?.bannedUntil != null && row.bannedUntil > now) continue; // banned already (by another instance meanwhile)
          const fresh = !row || now - row.windowStartedAt > this.policy.findTimeMs || row.bannedUntil != null;
          const failures = fresh ? 1 : row.failures + 1;
          const bannedUntil = failures >= limit ? now + this.policy.banTimeMs : null;
          await q.saveRegulationCounter({ kind, subject, failures, windowStartedAt: fresh ? now : row!.windowStartedAt, bannedUntil });
          if (bannedUntil !== null) {
            newBans.push([kind, subject, failures]);
            await q.recordAudit({
              at: now,
              event: "regulation.banned",
              actorUsername: "gatehouse",
              ...auditedSubject(kind, subject),
              detail: { kind, subject, failures, ban_seconds: Math.round(this.policy.banTimeMs / 1000) },
            });
          }
        }
        if (newBans.length > 0) await q.notify({ kind: "regulation.changed" });
        return newBans;
      }),
    );
    this.ownWrites++;
    // In force here at once, before any re-read: the next attempt is refused.
    for (const [kind, subject] of banned) this.bans.set(banKey(kind, subject), now + this.policy.banTimeMs);
    for (const [kind, subject, failures] of banned) {
      this.logger.warn("regulation.banned", { kind, subject, failures, ban_seconds: Math.round(this.policy.banTimeMs / 1000) });
    }
  }

  /** A success by this username subject: its count starts again (the address's does not: one success proves nothing about the others). */
  recordSuccess(username: string, _now = Date.now()): MaybePromise<void> {
    const subject = bound(username);
    // A read first: successes are frequent, and a write for nothing would take the store's write lock.
    // No promise when the store answers at once (SQLite) and there is nothing to forget, the usual case.
    const row = this.timeQuery("regulation_check", () => this.store.read.regulationCounter("username", subject));
    return isPromise(row) ? row.then((found) => this.forgetFailures(subject, found)) : this.forgetFailures(subject, row);
  }

  private forgetFailures(subject: string, row: RegulationCounter | undefined): MaybePromise<void> {
    // A ban, even one just over, is left to the sweep, which audits its end.
    if (!row || row.bannedUntil != null) return;
    return this.store.transaction(async (q) => q.deleteRegulationCounter("username", subject)).then(() => {
      this.ownWrites++;
    });
  }

  /**
   * Ends the bans whose time is over (each audited once, whichever instance
   * sweeps first: the rows are deleted in the same transaction) and forgets
   * counts whose window has passed. Returns the bans released.
   */
  async sweep(now = Date.now()): Promise<{ kind: BanKind; subject: string }[]> {
    const released = await this.store.transaction(async (q) => {
      const over = (await q.releaseRegulation(now, this.policy.findTimeMs)) as { kind: BanKind; subject: string }[];
      for (const { kind, subject } of over) {
        await q.recordAudit({ at: now, event: "regulation.released", actorUsername: "gatehouse", ...auditedSubject(kind, subject), detail: { kind, subject } });
      }
      if (over.length > 0) await q.notify({ kind: "regulation.changed" });
      return over;
    });
    this.ownWrites++;
    for (const { kind, subject } of released) this.logger.info("regulation.released", { kind, subject });
    return released;
  }

  /** The bans in force at `now`, from the store (every instance's), soonest to end first. */
  async activeBans(now = Date.now()): Promise<ActiveBan[]> {
    const rows = await this.timeQuery("regulation_check", () => this.store.read.activeBans(now));
    return rows
      .map(({ kind, subject, bannedUntil }) => ({ kind: kind as BanKind, subject, until: bannedUntil, ...auditedSubject(kind as BanKind, subject) }))
      .sort((a, b) => a.until - b.until || a.subject.localeCompare(b.subject));
  }

  /**
   * An administrator lifts a ban before its time (`gatehouse regulation
   * release`, the API, the portal): its row is deleted with its count, audited
   * as regulation.released by the actor, and the other instances told. In
   * force here at once: the ban is forgotten from memory and the own-writes
   * count moves, so that an answer /authenticate remembered for the banned
   * username is dropped at its next request (a write through this process's
   * own SQLite connection does not move data_version). False when no ban of
   * that subject is in force.
   */
  async release(actor: AuditActor, kind: BanKind, subject: string, now = Date.now()): Promise<boolean> {
    const bounded = bound(subject);
    const released = await this.store.transaction(async (q) => {
      const row = await q.regulationCounter(kind, bounded);
      if (row?.bannedUntil == null || row.bannedUntil <= now) return false;
      await q.deleteRegulationCounter(kind, bounded);
      const { targetUsername, targetRealm, address } = auditedSubject(kind, bounded);
      const audited = auditRow(actor, "regulation.released", now, {
        target: targetUsername === null ? null : { username: targetUsername, realm: targetRealm ?? "" },
        detail: { kind, subject: bounded, ...(address === null ? {} : { banned_address: address }), by: "admin", failures: row.failures },
      });
      await q.recordAudit({ ...audited, targetRealm });
      await q.notify({ kind: "regulation.changed" });
      return true;
    });
    this.ownWrites++;
    this.bans.delete(banKey(kind, bounded));
    if (released) this.logger.info("regulation.released", { kind, subject: bounded, by: actorName(actor) });
    return released;
  }

  /**
   * Releases the bans in force of a username (in one realm, or in every realm
   * when none is named: the name as regulation counts it, any spelling) or of
   * an address; answers those released (none: there was no such ban).
   */
  async releaseMatching(actor: AuditActor, target: BanTarget, now = Date.now()): Promise<ActiveBan[]> {
    const name = "username" in target ? regulatedName(target.username) : null;
    const matching = (await this.activeBans(now)).filter((ban) =>
      name === null
        ? ban.kind === "address" && ban.address === ("address" in target ? target.address.trim() : null)
        : ban.kind === "username" && ban.targetUsername === name && ("realm" in target && target.realm ? ban.subject === usernameSubject(target.realm, name) : true),
    );
    const released: ActiveBan[] = [];
    for (const ban of matching) if (await this.release(actor, ban.kind, ban.subject, now)) released.push(ban);
    return released;
  }

  /**
   * Re-reads the active bans when the store changed (here or elsewhere) since
   * they were read. At once on SQLite; on PostgreSQL the answer is the re-read
   * to wait for. A store that failed to answer is not asked again for a
   * second: meanwhile the bans read before apply, and nobody waits.
   */
  private refresh(now: number): Promise<void> | null {
    if (this.reloading) return this.reloading;
    const stamp = this.store.changes.current(now);
    if (stamp === this.loadedStamp && this.ownWrites === this.loadedOwnWrites) return null;
    if (now - this.reloadFailedAt < RELOAD_RETRY_MS) return null;
    const ownWrites = this.ownWrites;
    const rows = this.timeQuery("regulation_check", () => this.store.read.activeBans(now));
    if (!isPromise(rows)) {
      this.loaded(rows, stamp, ownWrites);
      return null;
    }
    this.reloading = rows
      .then(
        (ready) => this.loaded(ready, stamp, ownWrites),
        // The bans read before stay in force; the next attempt tries again.
        (error) => {
          this.reloadFailedAt = Date.now();
          this.logger.warn("regulation.reload_failed", { error: (error as Error).message });
        },
      )
      .finally(() => {
        this.reloading = null;
      });
    return this.reloading;
  }

  private loaded(rows: { kind: string; subject: string; bannedUntil: number }[], stamp: number, ownWrites: number): void {
    this.bans = new Map(rows.map((row) => [banKey(row.kind, row.subject), row.bannedUntil]));
    this.loadedStamp = stamp;
    this.loadedOwnWrites = ownWrites;
  }
}

/** Whose ban an administrator releases: a username (in one realm, or in all), or an address. */
export type BanTarget = { username: string; realm?: string } | { address: string };

/** Whom a release names, in words (when there was no such ban). */
export const describeBanTarget = (target: BanTarget) =>
  "address" in target ? `the address ${target.address}` : target.realm ? `${target.username} in realm ${target.realm}` : `${target.username} (any realm)`;

const actorName = (actor: AuditActor) => (actor.user ? `${actor.user.username}@${actor.user.realm}` : (actor.operator ?? "gatehouse"));

/** A ban in force, as `gatehouse regulation list`, the API and the portal show it. */
export interface ActiveBan {
  kind: BanKind;
  /** As stored: `realm:name` for a username (usernameSubject), the address for an address. */
  subject: string;
  /** When it ends, ms since the epoch. */
  until: number;
  targetUsername: string | null;
  targetRealm: string | null;
  address: string | null;
}

/** Who a ban is about, in the audit log's columns: a username (and its realm) or an address. */
function auditedSubject(kind: BanKind, subject: string) {
  if (kind === "address") return { targetUsername: null, targetRealm: null, address: subject };
  const { realm, username } = partsOf(subject);
  return { targetUsername: username, targetRealm: realm, address: null };
}
