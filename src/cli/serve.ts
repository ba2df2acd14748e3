// `gatehouse serve`: start the server (the default command).
import { startServer } from "../server.ts";
import { CONFIG_FLAG, defineCommand, usageError } from "./help.ts";
import { loadServeConfig as loadConfig } from "./common.ts";

export const serveCommand = defineCommand(
  {
    name: "serve",
    summary: "start the server (the default command)",
    description:
      "Reads the config once (again on SIGHUP), opens the store, listens, and stops gracefully on SIGTERM or SIGINT.\n" +
      "Without any config file, it runs a development default on 127.0.0.1:8080 with a SQLite store in ./data\n" +
      "and an admin account whose password it prints once, when it makes it.",
    flags: [CONFIG_FLAG],
  },
  async (parsed) => {
    const configPath = parsed.values.config;
    const server = await startServer(await loadConfig(configPath));
    await new Promise<void>((resolve) => {
      const shutdown = (signal: string) => {
        server.logger.info("server.stopping", { signal });
        void server.stop().then(resolve);
      };
      process.once("SIGTERM", () => shutdown("SIGTERM"));
      process.once("SIGINT", () => shutdown("SIGINT"));
      // Not fatal (the default would end the process): the config file is read again (users, providers,
      // augmenters…; not the listen address, TLS, metrics or log settings). A supervisor passes it on to
      // every worker (workers.ts), which reloads its own.
      process.on("SIGHUP", () => {
        server.logger.info("server.sighup", { pid: process.pid });
        void server.reload(() => loadConfig(configPath));
      });
    });
    process.removeAllListeners("SIGHUP");
    // Everything is answered, written and closed; idle keep-alive connections to remote providers
    // would otherwise keep the process alive for their idle timeout (10 s and more).
    process.exit(0);
    return 0;
  },
);
