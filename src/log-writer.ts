// The writer behind the default logger: lines are gathered in memory and
// written every few milliseconds, with one write(2) for all of them,
// to a non-blocking stdout: when the reader of the pipe is slow and the pipe
// is full, the rest waits in memory and is retried a little later, instead of
// blocking the event loop (and every request) in write(2).
//
// Bun puts stdout in non-blocking mode when its own stdout sink is created
// (checked: a write to a full pipe then returns a partial count). The sink's
// buffer is not used: the writes are made here, so that exactly what has not
// been written yet is known. Then what is still in memory when the process
// ends (normal exit, SIGTERM, SIGINT, an uncaught exception) is written
// synchronously, in order, and the last lines (a crash's reason above all)
// are not lost or cut.
import { writeSync } from "node:fs";

export interface BufferedWriter {
  write(line: string): void;
  /** Writes what is buffered now, synchronously (exit paths). */
  flushSync(): void;
}

/** Beyond this much unwritten text (stdout not read at all), lines are dropped and counted rather than kept. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** How long lines wait to be written together; and how long before writing again to a full pipe. */
const FLUSH_MS = 10;
const RETRY_MS = 10;
const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;

let stdoutWriter: BufferedWriter | null = null;

/** The process has one stdout, so one writer, and its exit handlers are installed once. */
export function createBufferedStdout(): BufferedWriter {
  if (!stdoutWriter) {
    Bun.stdout.writer(); // puts fd 1 in non-blocking mode (see above)
    stdoutWriter = createBufferedWriter(1);
  }
  return stdoutWriter;
}

export function createBufferedWriter(fd: number, installExitHandlers = true): BufferedWriter {
  let pending: string[] = [];
  let pendingBytes = 0;
  /** Bytes of a chunk the pipe took only in part: they go first. */
  let leftover: Buffer | null = null;
  let dropped = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let scheduled = false;

  const takeAll = (): Buffer => {
    const text = pending.length > 0 ? pending.join("\n") + "\n" : "";
    pending = [];
    pendingBytes = 0;
    const chunk = leftover && text ? Buffer.concat([leftover, Buffer.from(text)]) : (leftover ?? Buffer.from(text));
    leftover = null;
    return chunk;
  };
  const reportDropped = () => {
    if (dropped === 0) return;
    writeAllSync(2, `gatehouse: ${dropped} log lines dropped: stdout was not being read\n`);
    dropped = 0;
  };
  const schedule = () => {
    if (scheduled || timer) return;
    scheduled = true;
    // Lines wait up to FLUSH_MS, so that one write(2) carries a few hundred of them at debug level.
    setTimeout(drain, FLUSH_MS).unref?.();
  };
  function drain() {
    scheduled = false;
    timer = null;
    if (pending.length === 0 && !leftover) return;
    const chunk = takeAll();
    let written = 0;
    try {
      written = writeSync(fd, chunk);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN") return; // stdout closed: nothing more can be done
    }
    if (written < chunk.length) {
      leftover = chunk.subarray(written);
      timer = setTimeout(drain, RETRY_MS);
      timer.unref?.();
    } else {
      reportDropped();
    }
  }

  const writer: BufferedWriter = {
    write(line) {
      if (pendingBytes + (leftover?.length ?? 0) > MAX_BUFFERED_BYTES) {
        dropped++;
        return;
      }
      pending.push(line);
      pendingBytes += line.length + 1;
      schedule();
    },
    flushSync() {
      if (timer) clearTimeout(timer);
      timer = null;
      if (pending.length > 0 || leftover) writeAllSync(fd, takeAll());
      reportDropped();
    },
  };

  if (installExitHandlers) {
    process.on("exit", () => writer.flushSync());
    for (const signal of Object.keys(SIGNAL_NUMBERS) as (keyof typeof SIGNAL_NUMBERS)[]) {
      process.on(signal, () => {
        writer.flushSync();
        // Listening to a signal replaces the default action: when nobody else (the
        // server's graceful stop) handles it, end as the default action would.
        if (process.listenerCount(signal) === 1) process.exit(128 + SIGNAL_NUMBERS[signal]);
      });
    }
    process.on("uncaughtException", (error) => {
      writer.flushSync();
      writeAllSync(2, `${error?.stack ?? String(error)}\n`);
      process.exit(1);
    });
  }
  return writer;
}

/** write(2) until everything is written; a non-blocking descriptor that is full is retried for up to 2 s. */
function writeAllSync(fd: number, text: string | Buffer): void {
  let buffer = typeof text === "string" ? Buffer.from(text) : text;
  const deadline = Date.now() + 2000;
  while (buffer.length > 0) {
    try {
      buffer = buffer.subarray(writeSync(fd, buffer));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN" || Date.now() > deadline) return;
      Bun.sleepSync(1);
    }
  }
}
