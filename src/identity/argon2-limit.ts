// argon2 verifications, at most two at a time in the whole process (as
// auth-o-tron 0.4.0, and never more than the CPUs): each one holds a CPU and
// 19 MiB for ≈30 ms, so a flood of wrong passwords must queue rather than
// exhaust the machine. A waiting check gives up when its request's signal
// aborts (the pipeline's auth.timeout_in_ms); a check already running cannot
// be stopped and stays counted until it ends (and its answer is then not
// remembered: providers/plain.ts).
import { availableParallelism } from "node:os";
import argon2 from "argon2";
import { ProviderBusy } from "../providers/provider.ts";

export const MAX_CONCURRENT_VERIFICATIONS = Math.max(1, Math.min(2, availableParallelism()));
/** Beyond this many waiting checks, more are refused at once: the queue itself stays bounded. */
const MAX_WAITING = 1024;

let running = 0;
const waiting = new Set<() => void>();

/** Whether `password` matches the PHC string `hash`; a malformed hash is a mismatch, never a crash. */
export async function verifyArgon2(hash: string, password: string, signal?: AbortSignal): Promise<boolean> {
  await acquire(signal);
  try {
    return await argon2.verify(hash, password).catch(() => false);
  } finally {
    release();
  }
}

/** Checks running and waiting now (for tests and metrics). */
export function argon2Load(): { running: number; waiting: number } {
  return { running, waiting: waiting.size };
}

function acquire(signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (running < MAX_CONCURRENT_VERIFICATIONS) {
    running++;
    return Promise.resolve();
  }
  if (waiting.size >= MAX_WAITING) return Promise.reject(new ProviderBusy("too many password checks waiting"));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      waiting.delete(start);
      reject(signal!.reason);
    };
    const start = () => {
      signal?.removeEventListener("abort", onAbort);
      running++;
      resolve();
    };
    waiting.add(start);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function release(): void {
  running--;
  const next = waiting.values().next();
  if (!next.done) {
    waiting.delete(next.value);
    next.value();
  }
}
