// Changes made by other instances sharing one PostgreSQL, told by LISTEN/NOTIFY
// (docs/postgres-design.md § 3).
//
// One client of its own (`new SQL({ url, max: 1, onclose })`) holds the LISTEN
// on CHANGES_CHANNEL and nothing else, so its `onclose` means the listener was
// lost. Two states:
// - listening: every change committed anywhere arrives within milliseconds;
//   subscribers (the hot-read cache, the key set, the regulator) apply it and
//   the stamp (`current()`) moves, so /authenticate re-checks what it kept.
// - deaf: notifications sent now are lost for good, so subscribers are told to
//   drop everything (a flush) and the cache keeps nothing until listening
//   again, when they are told once more (what was read meanwhile may be stale).
//
// Deaf when: the listening connection closes (onclose); or no notification at
// all arrived for `deafAfterMs` (3 s) although this instance NOTIFYs itself a
// heartbeat every `heartbeatMs` (1 s): a dead peer with no RST is not noticed
// by the socket until the kernel gives up. That silence is checked every
// `checkMs` (250 ms), not only when a heartbeat is sent: checked once a
// second, a path cut just after a heartbeat went unnoticed for 4 s, not 3
// (measured in test/pg-listener.test.ts: what this instance kept in memory is
// believed until then, a revoked token included). Listening again when: Bun's own
// re-subscription succeeds (onlisten), or `recover()` (called by the /ready
// check and by the heartbeat tick), after `reopenAfterMs` deaf and once the
// pool answers `SELECT 1`, replaces the listening client with a fresh one,
// skipping Bun's back-off (after a 20 s outage it waits ~6 s).
import { SQL } from "bun";
import type { StoreChange, StoreChanges } from "../backend.ts";
import { CHANGES_CHANNEL, decodeChange, type ChangeMessage } from "./contract.ts";

/** The kind of the heartbeat payload: not a StoreChange, never given to subscribers. */
export const HEARTBEAT_KIND = "heartbeat";

export type ListenState = "listening" | "deaf";

/** What the cache needs from the listener (a fake in unit tests). */
export interface ChangeFeed {
  /** True while every committed change is known to reach this instance. */
  readonly listening: boolean;
  /** Called with each change, and with a flush when the listener is lost or restored. Returns an unsubscribe. */
  onChange(listener: (message: ChangeMessage) => void): () => void;
}

/** Logger-shaped: the listener logs `store.listen.lost` (warn) and `store.listen.restored` (info). */
export interface ListenLog {
  warn(event: string, fields?: Record<string, unknown>): void;
  info(event: string, fields?: Record<string, unknown>): void;
}

export interface PgChangeListenerOptions {
  url: string;
  /** Sent as `from`; a change or heartbeat from this id is this instance's own. */
  instanceId: string;
  /** The query pool: heartbeats are sent on it and `recover()` asks it `SELECT 1`. */
  pool: SQL;
  log?: ListenLog;
  /** Told of each transition, after subscribers were flushed (tests, metrics). */
  onState?: (state: ListenState, since: number, reason: string) => void;
  heartbeatMs?: number;
  deafAfterMs?: number;
  /** How often the silence is checked (a quarter of heartbeatMs by default): deafness is noticed within deafAfterMs + this. */
  checkMs?: number;
  reopenAfterMs?: number;
  /** The listening connection's application_name (pg_stat_activity). */
  applicationName?: string;
  /** TLS options of the query pool, for the listening client too. */
  tls?: Bun.SQL.PostgresOrMySQLOptions["tls"];
}

/** How long recover() waits for the pool's answer, or for a fresh LISTEN before the next attempt replaces it. */
const OPEN_TIMEOUT_MS = 2_000;

const KNOWN_KINDS = new Set(["token.revoked", "session.revoked", "session.refreshed", "account.changed", "keys.changed", "regulation.changed", "flush"]);

/** A change as subscribers may trust it: a known kind with its ids well formed, else a flush. */
export function normaliseChange(message: ChangeMessage): ChangeMessage {
  const ok = (() => {
    if (!KNOWN_KINDS.has(message.kind)) return false;
    const { ids, userIds } = message as { ids?: unknown; userIds?: unknown };
    switch (message.kind) {
      case "token.revoked":
      case "session.revoked":
      case "session.refreshed":
        return Array.isArray(ids) && ids.every((id) => typeof id === "string");
      case "account.changed":
        return Array.isArray(userIds) && userIds.every((id) => typeof id === "number");
      default:
        return true;
    }
  })();
  return ok ? message : { kind: "flush", from: message.from };
}

export function encodeHeartbeat(from: string): string {
  return JSON.stringify({ kind: HEARTBEAT_KIND, from });
}

/** The part of an error safe to show (/ready, logs): its code and message, never a URL or password. */
export function describeError(error: unknown, url?: string): string {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  let text = typeof message === "string" ? message : String(error);
  if (url) {
    text = text.split(url).join("…");
    try {
      const password = decodeURIComponent(new URL(url).password);
      if (password) text = text.split(password).join("…");
    } catch {}
  }
  text = text.replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, "…");
  return typeof code === "string" && code && !text.includes(code) ? `${code}: ${text}` : text;
}

export class PgChangeListener implements StoreChanges, ChangeFeed {
  private readonly options: PgChangeListenerOptions;
  private readonly heartbeatMs: number;
  private readonly deafAfterMs: number;
  private readonly checkMs: number;
  private readonly reopenAfterMs: number;
  private readonly subscribers = new Set<(message: ChangeMessage) => void>();
  private stamp = 0;
  private state: ListenState = "deaf";
  private since = Date.now();
  private client: SQL | null = null;
  /** Callbacks of a replaced client are ignored: each client carries its epoch. */
  private epoch = 0;
  private lastReceivedAt = 0;
  /** The millisecond the stamp last moved for being deaf. */
  private deafNow = 0;
  private lastTickAt = 0;
  /** The last tick that sent a heartbeat (or, deaf, tried to listen again). */
  private lastBeatAt = 0;
  private heartbeatPending = false;
  private timer: ReturnType<typeof setInterval> | null = null;
  private recovering: Promise<void> | null = null;
  private lastReopenAt = 0;
  private closed = false;
  /** Figures for tests and metrics. */
  readonly counters = { received: 0, heartbeats: 0, flushes: 0, lost: 0, restored: 0, reopened: 0 };

  constructor(options: PgChangeListenerOptions) {
    this.options = options;
    this.heartbeatMs = options.heartbeatMs ?? 1_000;
    this.deafAfterMs = options.deafAfterMs ?? 3_000;
    this.reopenAfterMs = options.reopenAfterMs ?? 1_000;
    this.checkMs = options.checkMs ?? Math.max(10, Math.floor(this.heartbeatMs / 4));
  }

  /** Opens the listening client; resolves once LISTEN is acknowledged (rejects if it cannot be, the listener then keeps trying). */
  async start(): Promise<void> {
    this.lastTickAt = Date.now();
    this.timer ??= setInterval(() => this.tick(), this.checkMs);
    this.timer.unref?.();
    await this.open();
  }

  get listening(): boolean {
    return this.state === "listening";
  }

  /** When the listener was lost (ms since the epoch), or null while listening. */
  get deafSince(): number | null {
    return this.state === "deaf" ? this.since : null;
  }

  /**
   * Moves with every change heard, every flush and every transition. While
   * deaf it also moves every millisecond (as SQLite's poll does): a change
   * made elsewhere cannot be heard, so nothing verified from the store may be
   * reused for longer than that (the /authenticate verdicts, the bans).
   */
  current(now = Date.now()): number {
    if (this.state === "deaf" && now !== this.deafNow) {
      this.deafNow = now;
      this.stamp++;
    }
    return this.stamp;
  }

  bump(): void {
    this.stamp++;
  }

  /**
   * A change committed through this instance: applied here at once, not when
   * its own notification comes back (a revocation answered 200 holds for the
   * very next request). Call after the transaction that notified it commits.
   */
  publish(change: StoreChange): void {
    this.deliver(normaliseChange({ ...change, from: this.options.instanceId }));
  }

  onChange(listener: (message: ChangeMessage) => void): () => void {
    this.subscribers.add(listener);
    return () => this.subscribers.delete(listener);
  }

  /**
   * Deaf for over `reopenAfterMs` and the pool answers: replace the listening
   * client by a fresh one (Bun's re-subscription back-off grows with the
   * outage). One attempt at a time, at most one a `reopenAfterMs`.
   */
  recover(now = Date.now()): Promise<void> {
    if (this.closed || this.state === "listening" || now - this.since < this.reopenAfterMs) return Promise.resolve();
    if (this.recovering || now - this.lastReopenAt < this.reopenAfterMs) return this.recovering ?? Promise.resolve();
    this.recovering = (async () => {
      const answers = await Promise.race([
        this.options.pool`SELECT 1`.then(
          () => true,
          () => false,
        ),
        Bun.sleep(OPEN_TIMEOUT_MS).then(() => false),
      ]);
      if (!answers) return; // the database is away (or does not answer): nothing to listen to yet
      if (this.closed || this.state === "listening") return;
      this.lastReopenAt = Date.now();
      this.counters.reopened++;
      // A peer that accepts nothing (no RST) would hang the LISTEN: bounded, the next recover() replaces it.
      const opened = this.open().catch(() => {});
      await Promise.race([opened, Bun.sleep(OPEN_TIMEOUT_MS)]); // still deaf on failure; the next recover() tries again
    })().finally(() => (this.recovering = null));
    return this.recovering;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.epoch++;
    const client = this.client;
    this.client = null;
    await client?.close().catch(() => {});
    this.subscribers.clear();
  }

  private async open(): Promise<void> {
    const epoch = ++this.epoch;
    const previous = this.client;
    this.client = null;
    // A deaf-making close of our own: the old client's onclose is ignored (its epoch is over).
    if (previous) void previous.close({ timeout: 0 }).catch(() => {});
    if (this.state === "listening") this.becomeDeaf("listener replaced");
    const client = new SQL({
      url: this.options.url,
      max: 1,
      tls: this.options.tls,
      connectionTimeout: 5,
      connection: { application_name: this.options.applicationName ?? "gatehouse-listen" },
      onclose: (error) => {
        if (epoch === this.epoch) this.becomeDeaf(`connection closed: ${describeError(error, this.options.url)}`);
      },
    });
    this.client = client;
    await client.listen(
      CHANGES_CHANNEL,
      (payload) => {
        if (epoch === this.epoch) this.receive(payload);
      },
      () => {
        if (epoch === this.epoch) this.becomeListening();
      },
    );
  }

  private receive(payload: string): void {
    this.lastReceivedAt = Date.now();
    const message = decodeChange(payload);
    if (!message) return; // not ours: another program on the channel
    if (message.kind === (HEARTBEAT_KIND as string)) {
      this.counters.heartbeats++;
      return;
    }
    this.counters.received++;
    // Sent while this instance was deaf, it arrives after the flush of becoming listening: still applied.
    this.deliver(normaliseChange(message));
  }

  private deliver(message: ChangeMessage): void {
    if (message.kind === "flush") this.counters.flushes++;
    for (const subscriber of this.subscribers) {
      try {
        subscriber(message);
      } catch (error) {
        // One failing subscriber must not keep the others stale.
        this.options.log?.warn("store.listen.subscriber_failed", { kind: message.kind, error: describeError(error) });
      }
    }
    this.stamp++;
  }

  private becomeDeaf(reason: string): void {
    if (this.state === "deaf") return;
    this.state = "deaf";
    this.since = Date.now();
    this.counters.lost++;
    this.deliver({ kind: "flush", from: this.options.instanceId });
    this.options.log?.warn("store.listen.lost", { reason });
    this.options.onState?.("deaf", this.since, reason);
  }

  private becomeListening(): void {
    const deafFor = Date.now() - this.since;
    this.state = "listening";
    this.since = Date.now();
    this.lastReceivedAt = this.since;
    // Anything read while deaf may be stale: drop it once more, then keep again.
    this.deliver({ kind: "flush", from: this.options.instanceId });
    if (this.counters.lost > 0) {
      this.counters.restored++;
      this.options.log?.info("store.listen.restored", { deaf_ms: deafFor });
    }
    this.options.onState?.("listening", this.since, "listening");
  }

  private tick(): void {
    const now = Date.now();
    // A stalled event loop delays the notifications too: judge the heartbeat on a punctual tick only
    // (after a late one, the notifications that waited are read before the next).
    const punctual = now - this.lastTickAt < 2 * this.checkMs;
    this.lastTickAt = now;
    if (this.closed) return;
    if (this.state === "listening" && punctual && now - this.lastReceivedAt > this.deafAfterMs) {
      this.becomeDeaf(`no notification for ${now - this.lastReceivedAt} ms (heartbeat every ${this.heartbeatMs} ms)`);
      void this.recover(now);
      return;
    }
    // The rest keeps the heartbeat's pace (half a check early rather than a check late): a heartbeat
    // while listening, an attempt to listen again while deaf.
    if (now - this.lastBeatAt < this.heartbeatMs - this.checkMs / 2) return;
    this.lastBeatAt = now;
    if (this.state === "deaf") {
      void this.recover(now);
      return;
    }
    // One heartbeat in flight at most: a pool that hangs does not pile them up.
    if (this.heartbeatPending) return;
    this.heartbeatPending = true;
    this.options.pool
      .notify(CHANGES_CHANNEL, encodeHeartbeat(this.options.instanceId))
      .catch(() => {})
      .finally(() => (this.heartbeatPending = false));
  }
}
