// `gatehouse healthcheck`: GET /health on the address the config listens on
// (for containers and supervisors), saying what it asked and what it got.
import { CONFIG_FLAG, defineCommand, usageError } from "./help.ts";
import { UsageError, loadExistingConfig } from "./common.ts";

export const healthcheckCommand = defineCommand(
  {
    name: "healthcheck",
    summary: "GET /health on the configured address (for containers)",
    description:
      "Asks the server the config describes (server.host and server.port, over HTTPS with tls and no tls.port;\n" +
      "server.socket when it listens there alone) and prints what it asked and the answer. Without a config\n" +
      "file, the development default's address, 127.0.0.1:8080. The certificate is not checked: it asks this machine.",
    flags: [CONFIG_FLAG],
  },
  async (parsed) => {
    const target = await healthTarget(parsed.values.config);
    const asked = `GET ${target.url}${target.socket ? ` over ${target.socket}` : ""}`;
    try {
      const response = await fetch(target.url, {
        signal: AbortSignal.timeout(3000),
        ...(target.socket ? { unix: target.socket } : {}),
        ...(target.url.startsWith("https:") ? { tls: { rejectUnauthorized: false } } : {}),
      });
      const body = (await response.text()).trim().slice(0, 200);
      const answer = `${response.status}${body ? ` ${body}` : ""}`;
      if (response.ok) {
        console.log(`healthcheck: ${asked}: ${answer}: healthy`);
        return 0;
      }
      console.error(`healthcheck: ${asked}: ${answer}: unhealthy`);
      return 1;
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).name ?? "error";
      console.error(`healthcheck: ${asked}: no answer (${reason}: ${(error as Error).message}): unhealthy`);
      return 1;
    }
  },
);

/** Where to ask: the config's address, or the development default's (never made here). */
async function healthTarget(configPath: string | undefined): Promise<{ url: string; socket?: string }> {
  let loaded;
  try {
    loaded = await loadExistingConfig(configPath);
  } catch (error) {
    if (error instanceof UsageError) return { url: "http://127.0.0.1:8080/health" };
    throw error;
  }
  const { config, listensOnTcp } = loaded;
  // Listening on the Unix socket alone: asked there.
  if (config.server.socket && listensOnTcp === false) return { url: "http://localhost/health", socket: config.server.socket };
  const host = ["0.0.0.0", "::", ""].includes(config.server.host) ? "127.0.0.1" : config.server.host;
  // With tls and no tls.port, server.port speaks HTTPS.
  const https = config.tls !== undefined && config.tls.port === undefined;
  return { url: `${https ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${config.server.port}/health` };
}
