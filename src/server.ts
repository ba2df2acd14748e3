// Starts a Gatehouse listening on the configured address, reloads its
// config (SIGHUP) without dropping a request, and stops it cleanly (SIGTERM).
//
// The listener is ours and hands each request to the current generation (a
// Gatehouse built from one config). A reload builds the next generation
// beside the current one, switches new requests to it, and closes the old one
// once its requests in flight have been answered; a config that does not load
// is refused with its problems logged, and the current one stays.
// With `server.workers` above 1 this process supervises that many workers
// (./workers.ts), passing signals on; each worker runs this same function.
import { edenGC } from "bun:jsc";
import type { Server } from "bun";
import { ConfigError, type LoadedConfig } from "./config/load.ts";
import { createGatehouse, type Gatehouse } from "./app.ts";
import { createLogger, type Logger } from "./log.ts";
import { VERSION } from "./version.ts";
import { loadTls } from "./tls.ts";
import { applySocketPermissions, prepareSocketPath } from "./unix-socket.ts";
import { UNIX_SOCKET_PEER } from "./identity/client.ts";
import type { PeerLookup } from "./identity/request.ts";
import { exposedSecretFiles } from "./secret-files.ts";
import { metricsPortApp } from "./modules/metrics/index.ts";
import { answerSupervisor, startSupervisor, workerCount } from "./workers.ts";
import { WORKER_VARIABLE, isWorker } from "./worker-role.ts";

export interface RunningServer {
  url: string;
  logger: Logger;
  /** Builds a Gatehouse from the config `load` returns and switches to it; false (logged) when refused. */
  reload(load: () => LoadedConfig | Promise<LoadedConfig>): Promise<boolean>;
  stop(): Promise<void>;
}

/** One Gatehouse and the requests it is answering. */
class Generation {
  private inFlight = 0;
  private drained?: () => void;
  private readonly fetch: (request: Request) => Response | Promise<Response>;

  constructor(
    readonly gatehouse: Gatehouse,
    readonly loaded: LoadedConfig,
    server: Server<unknown>,
    private readonly logger: Logger,
  ) {
    // Routes read the peer address through the app's server.
    gatehouse.app.server = server;
    this.fetch = gatehouse.app.fetch;
  }

  /** Synchronous when the app answers synchronously: an `await` here would cost every request. */
  handle(request: Request, stopping: boolean): Response | Promise<Response> {
    return this.track(() => this.fetch(request), stopping);
  }

  /**
   * /authenticate, routed by Bun itself straight to its handler: on the hot
   * path, Elysia's routing and hooks cost more than the check (the app still
   * serves the route for in-process use). Its answer is always a status and
   * headers, so a failure is a bare 500, never a page.
   */
  authenticate(request: Request, server: PeerLookup, stopping: boolean): Response | Promise<Response> {
    // As track(), written out: no closure made on the hot path.
    this.inFlight++;
    let answer: Response | Promise<Response>;
    try {
      answer = this.gatehouse.authenticate(request, server);
    } catch (error) {
      answer = this.failedAuthentication(error);
    }
    if (!(answer instanceof Promise)) return this.answered(answer, stopping);
    return answer.then(
      (response) => this.answered(response, stopping),
      (error) => this.answered(this.failedAuthentication(error), stopping),
    );
  }

  private failedAuthentication(error: unknown): Response {
    this.logger.error("http.internal_error", { path: "/authenticate", error: (error as Error)?.message });
    return new Response(null, { status: 500, headers: { "cache-control": "no-store" } });
  }

  private track(work: () => Response | Promise<Response>, stopping: boolean): Response | Promise<Response> {
    this.inFlight++;
    let answer: Response | Promise<Response>;
    try {
      answer = work();
    } catch (error) {
      this.answered();
      throw error;
    }
    if (!(answer instanceof Promise)) return this.answered(answer, stopping);
    return answer.then(
      (response) => this.answered(response, stopping),
      (error) => {
        this.answered();
        throw error;
      },
    );
  }

  private answered(): void;
  private answered(response: Response, stopping: boolean): Response;
  private answered(response?: Response, stopping?: boolean): Response | void {
    if (--this.inFlight === 0) this.drained?.();
    // While stopping, keep-alive connections are closed after their answer, so that clients
    // stop sending on them and the requests in flight drain.
    if (response && stopping) closeConnectionAfter(response);
    return response;
  }

  /** Resolves once every request it took has been answered (or after `limitMs`), then closes the Gatehouse. */
  async retire(limitMs: number): Promise<void> {
    if (this.inFlight > 0) {
      await Promise.race([new Promise<void>((resolve) => (this.drained = resolve)), Bun.sleep(limitMs)]);
    }
    await this.gatehouse.close(); // writes the last uses of tokens not written yet
  }
}

function closeConnectionAfter(response: Response): void {
  try {
    response.headers.set("connection", "close");
  } catch {} // immutable headers: the connection is closed at the end of the stop anyway
}

const hostInUrl = (host: string | undefined) => (host?.includes(":") ? `[${host}]` : host);

/**
 * A young-generation collection (bun:jsc's edenGC) is run every this many
 * requests. Each /authenticate answer leaves strings and objects made in
 * native code (the header values read, the cache key's hash, the Response's
 * headers) that the collector's heuristics do not count, so under load it
 * waited for ≈ 30 MB of garbage: peak RSS 108 MB under API-token load with no
 * collection asked for. An eden collection frees them and costs ≈ 0.7–0.9 ms
 * whatever the interval (timed under load, 2026-12-07): 0.4 µs a request at
 * 2,000, for a peak of 88–90 MB. Bun.gc(false), asked for before, starts a
 * full collection that marks the whole heap on a helper thread: 14 % more
 * CPU a request than none at all (bench/ab.ts, interleaved), against ≈ 5 %
 * for eden collections (bench/README.md, 2026-12-07).
 */
const COLLECT_EVERY = 2000;

/** How long requests in flight may take to finish at a reload or a stop. */
const DRAIN_LIMIT_MS = 10_000;

/** The config's warnings, and each secret file that group or others may read (finding 9 of issue 20). */
function warnAbout(loaded: LoadedConfig, logger: Logger): void {
  for (const warning of loaded.warnings) logger.warn("config.warning", { message: warning });
  for (const warning of exposedSecretFiles(loaded.secretFiles)) logger.warn("config.secret_file_readable", { message: warning });
}

/** The supervisor of `server.workers` workers (./workers.ts), each of which runs startServer itself. */
async function superviseWorkers(loaded: LoadedConfig, logger: Logger, workers: number): Promise<RunningServer> {
  const { config } = loaded;
  if (config.server.port === 0) {
    // Workers share one port: choose it here rather than let each take its own.
    const probe = Bun.listen({ hostname: config.server.host, port: 0, socket: { data() {} } });
    process.env.GATEHOUSE_BIND_ADDRESS = `${hostInUrl(config.server.host)}:${probe.port}`;
    config.server.port = probe.port;
    probe.stop(true);
  }
  const supervisor = await startSupervisor(loaded, logger, workers);
  logger.info("server.started", { url: supervisor.url, version: VERSION, config: loaded.source, workers, metrics: supervisor.metricsUrl });
  return {
    url: supervisor.url,
    logger,
    // Each worker reloads its own config: the supervisor passes SIGHUP on (workers.ts).
    reload: async () => true,
    async stop() {
      await supervisor.stop();
      logger.info("server.stopped");
    },
  };
}

/**
 * Says the server has started, where it listens (`where`), and serves metrics and readiness: a worker
 * answers its supervisor's questions, a lone server listens on the metrics port (returned, null for none).
 * Metrics and readiness are the current generation's (a reload starts its counters afresh).
 */
function announce(
  loaded: LoadedConfig,
  logger: Logger,
  worker: number | null,
  current: () => Gatehouse,
  first: Gatehouse,
  where: { url: string; socket?: string; https_url?: string; tls_certificate?: string },
): ReturnType<typeof metricsPortApp> | null {
  const { config } = loaded;
  if (worker !== null) {
    answerSupervisor({
      metrics: async () => current().metrics?.registry.getMetricsAsJSON() ?? [],
      ready: () => current().readiness(),
    });
    logger.info("server.worker_started", { worker, pid: process.pid, url: where.url });
    return null;
  }
  let metricsPort: ReturnType<typeof metricsPortApp> | null = null;
  if (first.metrics) {
    metricsPort = metricsPortApp({ render: () => (current().metrics ?? first.metrics!).render(), ready: () => current().readiness() });
    // Not shared: a second server on the same metrics port must fail, not split the scrapes.
    metricsPort.listen({ hostname: config.server.host, port: config.metrics.port, reusePort: false });
  }
  logger.info("server.started", {
    ...where,
    version: VERSION,
    config: loaded.source,
    providers: config.providers.length,
    augmenters: config.augmenters.length,
    metrics: metricsPort ? `http://${hostInUrl(metricsPort.server!.hostname)}:${metricsPort.server!.port}` : undefined,
  });
  return metricsPort;
}

/** The settings a reload cannot apply (the listeners, TLS, the metrics port): they need a restart. */
function needRestart(previous: LoadedConfig["config"], next: LoadedConfig["config"]): string[] {
  return [
    ...["host", "port", "socket", "socket_mode", "socket_group"].filter((key) => (next.server as any)[key] !== (previous.server as any)[key]).map((key) => `server.${key}`),
    ...(JSON.stringify(next.tls) !== JSON.stringify(previous.tls) ? ["tls"] : []),
    ...(JSON.stringify(next.metrics) !== JSON.stringify(previous.metrics) ? ["metrics"] : []),
  ];
}

// Long on purpose: one running server's state (the current generation, `stopping`, `closed`) is read by
// every listener's routes, the /authenticate hot path included, and changed by reload() and stop(); they stay
// closures over it in this one body, so that the hot path reads plain locals (no object or call in between) and
// the listeners start and stop in the order written. What does not touch that state is outside (superviseWorkers,
// announce, needRestart, Generation).
export async function startServer(loaded: LoadedConfig): Promise<RunningServer> {
  const { config } = loaded;
  const logger = createLogger({
    level: config.logging.level,
    format: config.logging.format,
    serviceName: config.logging.service_name,
    serviceVersion: config.logging.service_version,
  });
  const worker = isWorker() ? Number(process.env[WORKER_VARIABLE]) : null;
  // The supervisor says it once, not every worker.
  if (worker === null) warnAbout(loaded, logger);
  // Before anything else starts: a certificate problem stops the start with the file named.
  const tls = config.tls ? loadTls(config.tls, config.server) : null;
  const workers = workerCount(config);

  if (workers > 1 && worker === null) return superviseWorkers(loaded, logger, workers);

  const first = await createGatehouse(config, logger);
  let current: Generation | undefined;
  let stopping = false;
  let closed = false;
  const stoppingAnswer = (): Response => {
    const refusal = Response.json({ error: "The server is stopping" }, { status: 503, headers: { "retry-after": "1" } });
    closeConnectionAfter(refusal);
    return refusal;
  };
  let sinceCollection = 0;
  const counted = () => {
    if (++sinceCollection === COLLECT_EVERY) {
      sinceCollection = 0;
      edenGC();
    }
  };
  const dispatch = (request: Request): Response | Promise<Response> => {
    counted();
    return closed ? stoppingAnswer() : current!.handle(request, stopping);
  };
  // Bun routes /authenticate itself, in native code, to the handler (see Generation.authenticate).
  const routes = {
    "/authenticate": (request: Request, server: Server<unknown>) => {
      counted();
      return closed ? stoppingAnswer() : current!.authenticate(request, server, stopping);
    },
  };
  const onlyHttps = tls && tls.port === null;
  const socketPath = config.server.socket;
  const listensOnTcp = loaded.listensOnTcp ?? true;
  if (socketPath) {
    const problem = await prepareSocketPath(socketPath);
    if (problem) {
      await first.close();
      throw new Error(problem);
    }
  }
  const tcp = listensOnTcp
    ? Bun.serve({
        hostname: config.server.host,
        port: config.server.port,
        idleTimeout: 30,
        development: false,
        // Workers share the port; a lone server must fail if another holds it, not split its traffic.
        reusePort: workers > 1,
        ...(onlyHttps ? { tls: tls.options } : {}),
        routes,
        fetch: dispatch,
      })
    : null;
  // The Unix socket: the same app; its requests' peer is UNIX_SOCKET_PEER (a local process the file's mode let in).
  const fromSocket = new WeakSet<Request>();
  const socketPeer: PeerLookup = { requestIP: () => ({ address: UNIX_SOCKET_PEER }) };
  let unix: Server<unknown> | null = null;
  if (socketPath) {
    try {
      unix = Bun.serve({
        unix: socketPath,
        development: false,
        routes: {
          // Every request on the socket comes from UNIX_SOCKET_PEER: told by a constant, not
          // by remembering the request in fromSocket (a WeakSet entry costs ≈ 1 µs a request).
          "/authenticate": (request: Request): Response | Promise<Response> => {
            counted();
            return closed ? stoppingAnswer() : current!.authenticate(request, socketPeer, stopping);
          },
        },
        fetch: (request) => {
          fromSocket.add(request);
          return dispatch(request);
        },
      });
    } catch (error) {
      void tcp?.stop(true);
      await first.close();
      throw new Error(`server.socket: cannot listen on ${socketPath}: ${(error as Error).message}`);
    }
    const problem = applySocketPermissions(socketPath, config.server.socket_mode, config.server.socket_group);
    if (problem) {
      void unix.stop(true);
      void tcp?.stop(true);
      await first.close();
      throw new Error(problem);
    }
  }
  const server: Server<unknown> = (tcp ?? unix)!;
  // Handlers find a request's peer through the app's server: one that knows the socket's requests.
  const peers: Server<unknown> = new Proxy(server, {
    get(target, property) {
      if (property === "requestIP") {
        return (request: Request) => (fromSocket.has(request) ? { address: UNIX_SOCKET_PEER, family: "unix", port: 0 } : tcp ? tcp.requestIP(request) : null);
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  current = new Generation(first, loaded, peers, logger);
  const origin = (scheme: string, port: number | undefined) => `${scheme}://${hostInUrl(tcp!.hostname)}:${port}`;
  const url = tcp ? origin(onlyHttps ? "https" : "http", tcp.port) : `unix:${socketPath}`;
  // HTTP and HTTPS at once: a second listener answering with the same app (handlers find a request's peer through either).
  const https =
    tls && !onlyHttps
      ? Bun.serve({ hostname: config.server.host, port: tls.port!, tls: tls.options, idleTimeout: 30, reusePort: workers > 1, routes, fetch: dispatch })
      : null;

  const metricsPort = announce(loaded, logger, worker, () => current!.gatehouse, first, {
    url,
    ...(socketPath && tcp ? { socket: socketPath } : {}),
    ...(https ? { https_url: origin("https", https.port) } : {}),
    ...(tls ? { tls_certificate: tls.files.cert } : {}),
  });
  let reloading: Promise<boolean> = Promise.resolve(true);

  async function reload(load: () => LoadedConfig | Promise<LoadedConfig>): Promise<boolean> {
    let next: LoadedConfig;
    let gatehouse: Gatehouse;
    try {
      next = await load();
      gatehouse = await createGatehouse(next.config, logger);
    } catch (error) {
      // The problems, one per line, as `config check` prints them; the running config stays.
      logger.error("config.reload_refused", { error: (error as Error).message, config: current!.loaded.source });
      return false;
    }
    warnAbout(next, logger);
    const previous = current!;
    const moved = needRestart(previous.loaded.config, next.config);
    if (moved.length) logger.warn("config.reload_needs_restart", { changed: moved });
    current = new Generation(gatehouse, next, server, logger);
    logger.info("config.reloaded", {
      config: next.source,
      providers: next.config.providers.length,
      augmenters: next.config.augmenters.length,
    });
    await previous.retire(DRAIN_LIMIT_MS);
    return true;
  }

  return {
    url,
    logger,
    reload(load) {
      // One reload at a time: two SIGHUPs in a row apply in order.
      reloading = reloading.then(() => reload(load));
      return reloading;
    },
    async stop() {
      await reloading;
      // Stop listening; requests in flight are answered, then the store is closed.
      stopping = true;
      void tcp?.stop(false);
      void unix?.stop(false); // Bun removes the socket file
      void https?.stop(false);
      await current!.retire(DRAIN_LIMIT_MS);
      closed = true;
      await Promise.all([tcp?.stop(true), unix?.stop(true), https?.stop(true), metricsPort?.stop()]);
      logger.info("server.stopped");
      // A worker's channel to its supervisor would keep the process alive.
      if (worker !== null) process.disconnect?.();
    },
  };
}
