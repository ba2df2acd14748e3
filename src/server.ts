// Starts a Gatehouse listening on the configured address, and stops it cleanly.
import type { LoadedConfig } from "./config/load.ts";
import { createGatehouse } from "./app.ts";
import { createLogger, type Logger } from "./log.ts";
import { VERSION } from "./version.ts";
import { loadTls } from "./tls.ts";

export interface RunningServer {
  url: string;
  logger: Logger;
  stop(): Promise<void>;
}

export async function startServer(loaded: LoadedConfig): Promise<RunningServer> {
  const { config } = loaded;
  const logger = createLogger({
    level: config.logging.level,
    format: config.logging.format,
    serviceName: config.logging.service_name,
    serviceVersion: config.logging.service_version,
  });
  for (const warning of loaded.warnings) logger.warn("config.warning", { message: warning });
  // Before anything else starts: a certificate problem stops the start with the file named.
  const tls = config.tls ? loadTls(config.tls, config.server) : null;
  const gatehouse = await createGatehouse(config, logger);
  const onlyHttps = tls && tls.port === null;
  gatehouse.app.listen({ hostname: config.server.host, port: config.server.port, ...(onlyHttps ? { tls: tls.options } : {}) });
  const server = gatehouse.app.server!;
  const origin = (scheme: string, port: number | undefined) =>
    `${scheme}://${server.hostname?.includes(":") ? `[${server.hostname}]` : server.hostname}:${port}`;
  const url = origin(onlyHttps ? "https" : "http", server.port);
  // HTTP and HTTPS at once: a second listener answering with the same app (handlers find a request's peer through either).
  const https =
    tls && !onlyHttps
      ? Bun.serve({ hostname: config.server.host, port: tls.port!, tls: tls.options, idleTimeout: 30, fetch: (request) => gatehouse.app.fetch(request) })
      : null;
  logger.info("server.started", {
    url,
    ...(https ? { https_url: origin("https", https.port) } : {}),
    ...(tls ? { tls_certificate: tls.files.cert } : {}),
    version: VERSION,
    config: loaded.source,
    providers: config.providers.length,
    augmenters: config.augmenters.length,
  });
  return {
    url,
    logger,
    async stop() {
      await https?.stop();
      await gatehouse.app.stop();
      await gatehouse.close();
      logger.info("server.stopped");
    },
  };
}
