// Starts a Gatehouse listening on the configured address, and stops it cleanly.
import type { LoadedConfig } from "./config/load.ts";
import { createGatehouse } from "./app.ts";
import { createLogger, type Logger } from "./log.ts";
import { VERSION } from "./version.ts";

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
  const gatehouse = await createGatehouse(config, logger);
  gatehouse.app.listen({ hostname: config.server.host, port: config.server.port });
  const server = gatehouse.app.server!;
  const url = `http://${server.hostname?.includes(":") ? `[${server.hostname}]` : server.hostname}:${server.port}`;
  logger.info("server.started", {
    url,
    version: VERSION,
    config: loaded.source,
    providers: config.providers.length,
    augmenters: config.augmenters.length,
  });
  return {
    url,
    logger,
    async stop() {
      await gatehouse.app.stop();
      await gatehouse.close();
      logger.info("server.stopped");
    },
  };
}
