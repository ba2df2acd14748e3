// One password check in flight per username (issue 20, finding 1).
//
// argon2 takes two checks at a time in the whole process (≈66 a second on
// our machines). Without turns, a flood of guesses for one name filled that
// queue: every other person's sign-in waited behind it and ran out of time,
// and the flood's own checks ended after their deadline, uncounted. With
// turns, a check for a name waits for the one before it to be answered (and
// counted) and only then looks its ban up and runs: a flood for one name
// holds one argon2 slot, and is banned after max_retries checks, however many
// guesses it sends at once.
//
// A second check for the same name waits rather than being refused: a
// person's client sending several requests at once with the same password (a
// script's parallel downloads) then finds the first one's answer verified and
// remembered (the providers' caches), and every request succeeds with one
// argon2 run. Waiting is bounded by auth.timeout_in_ms: a check still waiting
// then is given up, and counted as a guess that ran out of time. Each process
// keeps its own turns (several workers: one check per name in each).
import type { MaybePromise } from "../identity/maybe-promise.ts";

export interface Turn {
  /** False when an earlier check still held the turn at the deadline: nothing is to be checked. */
  readonly inTime: boolean;
  /** Hands the turn on to the next check waiting (call it once the answer is counted). */
  end(): void;
}

const LATE: Turn = { inTime: false, end: () => {} };

export class Turns {
  /** The names whose turn is held, each with the checks waiting for it, first come first served. */
  private readonly lines = new Map<string, (() => void)[]>();

  /**
   * The turn of every name in `names` (a request may carry up to three
   * credentials), taken in sorted order so that two requests never wait for
   * each other. At once, without a promise, when no name is held.
   */
  take(names: readonly string[], timeoutMs: number): MaybePromise<Turn> {
    const sorted = names.length === 1 ? names : [...new Set(names)].sort();
    const held: string[] = [];
    const end = () => {
      for (const name of held.splice(0)) this.handOn(name);
    };
    const deadline = Date.now() + timeoutMs;
    const from = (index: number): MaybePromise<Turn> => {
      for (let i = index; i < sorted.length; i++) {
        const name = sorted[i];
        const line = this.lines.get(name);
        if (!line) {
          this.lines.set(name, []);
          held.push(name);
          continue;
        }
        return new Promise<Turn>((resolve) => {
          const go = () => {
            clearTimeout(timer);
            held.push(name);
            resolve(from(i + 1));
          };
          const timer = setTimeout(() => {
            const at = line.indexOf(go);
            if (at >= 0) line.splice(at, 1);
            end();
            resolve(LATE);
          }, Math.max(0, deadline - Date.now()));
          line.push(go);
        });
      }
      return { inTime: true, end };
    };
    return from(0);
  }

  private handOn(name: string): void {
    const line = this.lines.get(name);
    const next = line?.shift();
    if (next) next();
    else this.lines.delete(name);
  }
}
