// Notifications of token events (issue 23 § 2) to an operator's webhook, so
// that people can be told (by mail, chat…) without Gatehouse sending mail.
//
// Each event is one POST of a JSON body {id, type, occurred_at, data}:
//   X-Gatehouse-Signature: sha256=<hex HMAC-SHA256 of the body under the secret>
//   X-Gatehouse-Delivery:  the event's id (the same on every retry: de-duplicate on it)
//   X-Gatehouse-Timestamp: when it was sent, in Unix seconds (the body's occurred_at is when it happened)
//   X-Gatehouse-Event:     the type
// The body carries the id and time too, so the signature covers them.
//
// Never blocking a request: notify() queues the event and returns; a
// delivery that fails (a status other than 2xx, a network error, no answer
// within the timeout) is retried with exponential back-off, up to
// MAX_ATTEMPTS, and each failure is counted and logged with the webhook's
// origin only (its path or query may hold a secret of its own), never the
// signing secret. The queue is in memory and bounded: what is queued when
// the process stops is lost (the audit log keeps every event).
import { createHmac, randomUUID } from "node:crypto";
import type { Logger } from "../log.ts";

export type TokenEventType = "token.expiring" | "token.expired_unused" | "token.reuse_detected" | "token.leaked";

export interface Notifier {
  notify(type: TokenEventType, data: Record<string, unknown>): void;
}

/** Notifies nobody (no webhook configured). */
export const NO_NOTIFIER: Notifier = { notify() {} };

export interface WebhookOptions {
  url: string;
  secret: string;
  logger: Logger;
  /** Counts each failed attempt (gatehouse_webhook_failures_total). */
  failed?: () => void;
  /** Counts each delivered event (gatehouse_webhook_deliveries_total). */
  delivered?: () => void;
  /** First retry after this many ms, doubling each time (tests shorten it). */
  retryBaseMs?: number;
  timeoutMs?: number;
}

const MAX_ATTEMPTS = 8;
const MAX_RETRY_MS = 5 * 60_000;
const MAX_QUEUED = 1000;

interface Pending {
  id: string;
  type: TokenEventType;
  body: string;
  attempts: number;
}

export class WebhookNotifier implements Notifier {
  private queued = 0;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private closed = false;
  private readonly origin: string;

  constructor(private readonly options: WebhookOptions) {
    this.origin = new URL(options.url).origin;
  }

  notify(type: TokenEventType, data: Record<string, unknown>): void {
    if (this.closed) return;
    if (this.queued >= MAX_QUEUED) {
      this.options.logger.warn("notifications.dropped", { type, webhook: this.origin, reason: `${MAX_QUEUED} events already waiting` });
      return;
    }
    const id = randomUUID();
    const body = JSON.stringify({ id, type, occurred_at: new Date().toISOString(), data });
    this.queued++;
    this.schedule({ id, type, body, attempts: 0 }, 0);
  }

  /** The signature header's value for a body. */
  static signature(secret: string, body: string): string {
    return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
  }

  /** Stops the retries (at shutdown). */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private schedule(event: Pending, delayMs: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.deliver(event);
    }, delayMs);
    timer.unref?.();
    this.timers.add(timer);
  }

  private async deliver(event: Pending): Promise<void> {
    if (this.closed) return;
    event.attempts++;
    let problem: string;
    try {
      const response = await fetch(this.options.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-gatehouse-event": event.type,
          "x-gatehouse-delivery": event.id,
          "x-gatehouse-timestamp": String(Math.floor(Date.now() / 1000)),
          "x-gatehouse-signature": WebhookNotifier.signature(this.options.secret, event.body),
        },
        body: event.body,
        redirect: "manual",
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
      await response.body?.cancel().catch(() => {});
      if (response.ok) {
        this.queued--;
        this.options.delivered?.();
        this.options.logger.debug("notifications.delivered", { id: event.id, type: event.type, attempts: event.attempts });
        return;
      }
      problem = `status ${response.status}`;
    } catch (error) {
      // The webhook's own path or query never reaches the log: only its origin.
      problem = (error as Error).name === "TimeoutError" ? "no answer in time" : (error as Error).message.split(this.options.url).join(this.origin);
    }
    this.options.failed?.();
    const retry = event.attempts < MAX_ATTEMPTS;
    this.options.logger.warn("notifications.failed", { id: event.id, type: event.type, webhook: this.origin, attempt: event.attempts, error: problem, retrying: retry });
    if (!retry) {
      this.queued--;
      return;
    }
    this.schedule(event, Math.min(MAX_RETRY_MS, (this.options.retryBaseMs ?? 1000) * 2 ** (event.attempts - 1)));
  }
}
