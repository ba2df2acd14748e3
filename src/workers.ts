// `server.workers`: several processes serving one port. Each worker is a
// whole Gatehouse (`serve` run again with GATEHOUSE_WORKER set) listening with
// SO_REUSEPORT, so the kernel spreads connections over them, and all share
// the store (SQLite in WAL mode, a busy timeout; revocations made by one are
// seen by the others within a millisecond, as for any process sharing it).
//
// This process, the supervisor, does not serve the application. It prepares
// the store once (migrations, the first signing key) so that workers never
// race to do it, starts the workers, restarts one that dies, serves the
// metrics port with every worker's metrics combined (prom-client's
// AggregatorRegistry: counters and histograms summed, build info once), and
// passes SIGTERM, SIGINT and SIGHUP on to every worker.
import { availableParallelism } from "node:os";
import type { Subprocess } from "bun";
import type { MetricObjectWithValues, MetricValue } from "prom-client";
import type { LoadedConfig } from "./config/load.ts";
import type { GatehouseConfig } from "./config/schema.ts";
import type { Logger } from "./log.ts";
import type { Readiness } from "./metrics/readiness.ts";
import { Metrics } from "./metrics/recorder.ts";
import { storeEventCounter } from "./metrics/store-events.ts";
import { openKeySet } from "./keys/open.ts";
import { keySettings } from "./config/policies.ts";
import { openBackend } from "./store/open.ts";
import { metricsPortApp } from "./modules/metrics/index.ts";
import { VERSION } from "./version.ts";
import { WORKER_VARIABLE } from "./worker-role.ts";

export function workerCount(config: GatehouseConfig): number {
  return config.server.workers === "auto" ? availableParallelism() : config.server.workers;
}

/** Messages between the supervisor and a worker. */
export type ToWorker = { type: "metrics"; id: number } | { type: "ready"; id: number };
export type FromWorker =
  | { type: "listening" }
  | { type: "metrics"; id: number; metrics: MetricObjectWithValues<MetricValue<string>>[] }
  | { type: "ready"; id: number; readiness: Readiness };

/** In a worker: answers the supervisor's questions (metrics, readiness) over the IPC channel. */
export function answerSupervisor(answers: { metrics(): Promise<MetricObjectWithValues<MetricValue<string>>[]>; ready(): Readiness | Promise<Readiness> }): void {
  process.on("message", async (message: ToWorker) => {
    if (message.type === "metrics") process.send!({ type: "metrics", id: message.id, metrics: await answers.metrics() } satisfies FromWorker);
    if (message.type === "ready") process.send!({ type: "ready", id: message.id, readiness: await answers.ready() } satisfies FromWorker);
  });
  process.send!({ type: "listening" } satisfies FromWorker);
}

interface Worker {
  number: number;
  process: Subprocess;
  startedAt: number;
  listening: boolean;
}

/** How to run `serve` again: the compiled binary is its own entry point; from source, Bun runs main.ts. */
function serveCommand(): string[] {
  const compiled = (process.argv[1] ?? "").startsWith("/$bunfs/");
  return [process.execPath, ...(compiled ? [] : [process.argv[1]!]), ...process.argv.slice(2)];
}

const QUESTION_TIMEOUT_MS = 2000;

export interface Supervisor {
  url: string;
  metricsUrl: string | undefined;
  stop(): Promise<void>;
}

export async function startSupervisor(loaded: LoadedConfig, logger: Logger, count: number): Promise<Supervisor> {
  const { config } = loaded;
  // Migrations and the first managed key, once, before any worker opens the store.
  const store = config.store.enabled ? await openBackend(config.store, { logger }) : null;
  const keys = await openKeySet(keySettings(config), store, logger);
  keys.keySet.close?.();

  const workers = new Map<number, Worker>();
  const pending = new Map<number, (message: FromWorker) => void>();
  let nextQuestion = 1;
  let stopping = false;
  let quickDeaths = 0;
  const command = serveCommand();

  const spawn = (number: number): Worker => {
    const child = Bun.spawn(command, {
      env: { ...process.env, [WORKER_VARIABLE]: String(number) },
      stdio: ["ignore", "inherit", "inherit"],
      ipc(message: FromWorker) {
        if (message.type === "listening") worker.listening = true;
        else pending.get(message.id)?.(message);
      },
    });
    const worker: Worker = { number, process: child, startedAt: Date.now(), listening: false };
    workers.set(number, worker);
    void child.exited.then((code) => {
      if (stopping || workers.get(number) !== worker) return;
      // A worker that dies is replaced; one that keeps dying at start-up stops everything.
      quickDeaths = Date.now() - worker.startedAt < 5000 ? quickDeaths + 1 : 0;
      logger.error("workers.exited", { worker: number, pid: child.pid, code, restarting: quickDeaths < 3 });
      if (quickDeaths >= 3) {
        logger.error("workers.giving_up", { reason: "workers keep exiting at start-up" });
        process.kill(process.pid, "SIGTERM");
        return;
      }
      setTimeout(() => {
        if (!stopping) spawn(number);
      }, 1000);
    });
    return worker;
  };

  /** Asks every live worker; a worker that does not answer in time is left out (and reported not ready). */
  const askAll = async <T extends FromWorker>(type: ToWorker["type"]): Promise<(T | null)[]> =>
    Promise.all(
      [...workers.values()].map(
        (worker) =>
          new Promise<T | null>((resolve) => {
            if (worker.process.exitCode !== null || !worker.listening) return resolve(null);
            const id = nextQuestion++;
            const timer = setTimeout(() => {
              pending.delete(id);
              resolve(null);
            }, QUESTION_TIMEOUT_MS);
            pending.set(id, (message) => {
              clearTimeout(timer);
              pending.delete(id);
              resolve(message as T);
            });
            worker.process.send({ type, id } satisfies ToWorker);
          }),
      ),
    );

  for (let number = 1; number <= count; number++) spawn(number);
  const deadline = Date.now() + 30_000;
  while ([...workers.values()].some((worker) => !worker.listening)) {
    if (Date.now() > deadline) throw new Error("workers did not start within 30 s");
    if (quickDeaths >= 3) throw new Error("workers exit at start-up (see their log lines above)");
    await Bun.sleep(5);
  }

  // The supervisor's own metrics: its process_* figures and the store-wide event counters, read here
  // only (a worker's copies of those stay at zero, so the sum counts each event once).
  const own = new Metrics({ legacyNames: config.metrics.legacy_names, version: VERSION, providers: [], augmenters: [] });
  if (store) own.onScrape(await storeEventCounter(own, store));

  let metricsServer: ReturnType<typeof metricsPortApp> | null = null;
  if (config.metrics.enabled) {
    // The whole package, here only: its index also loads what a single process does not need (metrics/prom.ts).
    const { AggregatorRegistry } = await import("prom-client");
    metricsServer = metricsPortApp({
      async render() {
        const answers = await askAll<Extract<FromWorker, { type: "metrics" }>>("metrics");
        const theirs = answers.flatMap((answer) => (answer ? [answer.metrics] : []));
        await own.render(); // runs the store-event counting
        return AggregatorRegistry.aggregate([await own.registry.getMetricsAsJSON(), ...theirs] as never).metrics();
      },
      async ready(): Promise<Readiness> {
        const answers = await askAll<Extract<FromWorker, { type: "ready" }>>("ready");
        const missing = answers.filter((answer) => answer === null).length;
        const notReady = answers.find((answer) => answer && !answer.readiness.ready);
        if (notReady) return notReady.readiness;
        if (missing > 0 || answers.length < count) {
          return { ready: false, checks: { store: `${missing + count - answers.length} of ${count} workers do not answer`, keys: "unknown" } };
        }
        return answers[0]!.readiness;
      },
    });
    metricsServer.listen({ hostname: config.server.host, port: config.metrics.port, reusePort: false });
  }

  // Every worker gets the signal the supervisor got: SIGHUP as it is, a stop as SIGTERM.
  process.on("SIGHUP", () => {
    logger.info("workers.signal", { signal: "SIGHUP", workers: workers.size });
    for (const worker of workers.values()) worker.process.kill("SIGHUP");
  });

  const host = config.server.host.includes(":") ? `[${config.server.host}]` : config.server.host;
  return {
    url: `http://${host}:${config.server.port}`,
    metricsUrl: metricsServer ? `http://${host}:${metricsServer.server!.port}` : undefined,
    async stop() {
      stopping = true;
      for (const worker of workers.values()) worker.process.kill("SIGTERM");
      await Promise.all([...workers.values()].map((worker) => worker.process.exited));
      await metricsServer?.stop();
      await store?.close();
    },
  };
}
