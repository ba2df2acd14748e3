// Starts a Gatehouse listening on the configured address, and stops it cleanly.
// With `server.workers` above 1 this process supervises that many workers
// (./workers.ts); each worker runs this same function.
import type { LoadedConfig } from "./config/load.ts";
import { createGatehouse } from "./app.ts";
import { createLogger, type Logger } from "./log.ts";
import { VERSION } from "./version.ts";
import { loadTls } from "./tls.ts";
import { metricsPortApp } from "./modules/metrics/index.ts";
import { WORKER_VARIABLE, answerSupervisor, isWorker, startSupervisor, workerCount } from "./workers.ts";

export interface RunningServer {
  url: string;
  logger: Logger;
  stop(): Promise<void>;
}

const hostInUrl = (host: string | undefined) => (host?.includes(":") ? `[${host}]` : host);

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
  if (worker === null) for (const warning of loaded.warnings) logger.warn("config.warning", { message: warning });
  // Before anything else starts: a certificate problem stops the start with the file named.
  const tls = config.tls ? loadTls(config.tls, config.server) : null;
  const workers = workerCount(config);

  if (workers > 1 && worker === null) {
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
      async stop() {
        await supervisor.stop();
        logger.info("server.stopped");
      },
    };
  }

  const gatehouse = await createGatehouse(config, logger);
  const onlyHttps = tls && tls.port === null;
  gatehouse.app.listen({
    hostname: config.server.host,
    port: config.server.port,
    // Workers share the port; a lone server must fail if another holds it, not split its traffic.
    reusePort: workers > 1,
    ...(onlyHttps ? { tls: tls.options } : {}),
  });
  const server = gatehouse.app.server!;
  const origin = (scheme: string, port: number | undefined) => `${scheme}://${hostInUrl(server.hostname)}:${port}`;
  const url = origin(onlyHttps ? "https" : "http", server.port);
  // HTTP and HTTPS at once: a second listener answering with the same app (handlers find a request's peer through either).
  const https =
    tls && !onlyHttps
      ? Bun.serve({
          hostname: config.server.host,
          port: tls.port!,
          tls: tls.options,
          idleTimeout: 30,
          reusePort: workers > 1,
          fetch: (request) => gatehouse.app.fetch(request),
        })
      : null;

  let metricsPort: ReturnType<typeof metricsPortApp> | null = null;
  if (worker !== null) {
    answerSupervisor({ metrics: async () => gatehouse.metrics?.registry.getMetricsAsJSON() ?? [], ready: gatehouse.readiness });
    logger.info("server.worker_started", { worker, pid: process.pid, url });
  } else {
    if (gatehouse.metrics) {
      const metrics = gatehouse.metrics;
      metricsPort = metricsPortApp({ render: () => metrics.render(), ready: gatehouse.readiness });
      // Not shared: a second server on the same metrics port must fail, not split the scrapes.
      metricsPort.listen({ hostname: config.server.host, port: config.metrics.port, reusePort: false });
    }
    logger.info("server.started", {
      url,
      ...(https ? { https_url: origin("https", https.port) } : {}),
      ...(tls ? { tls_certificate: tls.files.cert } : {}),
      version: VERSION,
      config: loaded.source,
      providers: config.providers.length,
      augmenters: config.augmenters.length,
      metrics: metricsPort ? `http://${hostInUrl(metricsPort.server!.hostname)}:${metricsPort.server!.port}` : undefined,
    });
  }
  return {
    url,
    logger,
    async stop() {
      await metricsPort?.stop();
      await https?.stop();
      await gatehouse.app.stop();
      await gatehouse.close();
      logger.info("server.stopped");
      // A worker's channel to its supervisor would keep the process alive.
      if (worker !== null) process.disconnect?.();
    },
  };
}
