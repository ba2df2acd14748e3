#!/usr/bin/env bun
// The gatehouse command line.
import { parseArgs } from "node:util";
import { ConfigError, buildConfig, loadConfigFile, resolveConfigPath, type LoadedConfig } from "./config/load.ts";
import { developmentConfig } from "./config/development.ts";
import { hashPassword } from "./identity/passwords.ts";
import { startServer } from "./server.ts";
import { NAME, VERSION } from "./version.ts";

const USAGE = `${NAME} ${VERSION}

Usage: gatehouse <command> [--config FILE]

Commands:
  serve                  start the server (the default command)
  config check [FILE]    check a config as serve would: errors, warnings (--strict, --connect)
  config schema          print the config's JSON Schema
  hash-password          read a password on stdin, print its argon2id hash
  healthcheck            GET /health on the configured address (for containers)
  migrate                bring the store's schema up to date (serve also does it)
  tokens create|list|revoke|import   API tokens in the store (--help for options)
  users end --user U --realm R   end a user's sessions and revoke their API tokens
  client whoami|token …  call a server with the credentials of an .ecflowapirc file
  login --server URL     sign this terminal in through a browser; keeps a scoped API token (--help)
  logout --server URL    revoke the token login kept and remove it from .ecflowapirc
  keys list|rotate|retire KID   managed signing keys in the store
  store copy --from FILE.db [--to postgres://…] [--force]   copy a SQLite store into PostgreSQL
  audit [--event E] [--actor U] [--subject S] [--since T] …   the audit log (--help)
  access check --url URL [--method M] [--user U] …   what the access rules decide (--help)
  tls self-signed --host NAME --out DIR   a development certificate set (openssl)
  version                print the version

The config file is --config FILE, else $GATEHOUSE_CONFIG, else $AOT_CONFIG_PATH,
else ./config.yaml; without any, a development default on 127.0.0.1:8080.
`;

type Command = (positionals: string[], configPath: string | undefined) => Promise<number>;
/** Commands with options of their own get every argument but their name, --config included. */
type CommandWithOptions = (args: string[], load: typeof loadConfig) => Promise<number>;

async function loadConfig(configPath: string | undefined): Promise<LoadedConfig> {
  const resolved = resolveConfigPath(configPath, process.env);
  if (resolved) return loadConfigFile(resolved.path);
  return buildConfig(await developmentConfig(), "development default");
}

const commands: Record<string, Command> = {
  async serve(_positionals, configPath) {
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
  },

  async "hash-password"() {
    const password = await readPassword();
    if (!password) {
      console.error("hash-password: empty password");
      return 2;
    }
    console.log(await hashPassword(password));
    return 0;
  },

  async healthcheck(_positionals, configPath) {
    const { config, listensOnTcp } = await loadConfig(configPath);
    if (config.server.socket && listensOnTcp === false) {
      // Listening on the Unix socket alone: asked there.
      try {
        const response = await fetch("http://localhost/health", { unix: config.server.socket, signal: AbortSignal.timeout(3000) });
        return response.ok ? 0 : 1;
      } catch {
        return 1;
      }
    }
    const host = ["0.0.0.0", "::", ""].includes(config.server.host) ? "127.0.0.1" : config.server.host;
    try {
      // With tls and no tls.port, server.port speaks HTTPS. The probe asks this very machine whether
      // the process answers; the certificate is checked at start-up, not here.
      const https = config.tls !== undefined && config.tls.port === undefined;
      const response = await fetch(`${https ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${config.server.port}/health`, {
        signal: AbortSignal.timeout(3000),
        ...(https ? { tls: { rejectUnauthorized: false } } : {}),
      });
      return response.ok ? 0 : 1;
    } catch {
      return 1;
    }
  },

  async version() {
    console.log(VERSION);
    return 0;
  },
};

// Each command's module is loaded when it runs: `serve`, the one that must start fast, does not
// load the others' (the PostgreSQL tools among them).
const commandsWithOptions: Record<string, CommandWithOptions> = {
  config: async (args) => (await import("./cli/config.ts")).configCommand(args),
  migrate: async (args, load) => (await import("./cli/migrate.ts")).migrateCommand(args, load),
  tokens: async (args, load) => (await import("./cli/tokens.ts")).tokensCommand(args, load),
  users: async (args, load) => (await import("./cli/users.ts")).usersCommand(args, load),
  audit: async (args, load) => (await import("./cli/audit.ts")).auditCommand(args, load),
  access: async (args, load) => (await import("./cli/access.ts")).accessCommand(args, load),
  client: async (args) => (await import("./cli/client.ts")).clientCommand(args),
  login: async (args) => (await import("./cli/login.ts")).loginCommand(args),
  logout: async (args) => (await import("./cli/login.ts")).logoutCommand(args),
  tls: async (args) => (await import("./cli/tls.ts")).tlsCommand(args),
  store: async (args, load) => (await import("./cli/store-copy.ts")).storeCommand(args, load),
  keys: async (args, load) => {
    // A kid is base64url and may begin with "-": every argument but --config is taken as written.
    const positionals: string[] = [];
    let configPath: string | undefined;
    for (let index = 0; index < args.length; index++) {
      const arg = args[index]!;
      if (arg === "--config" || arg === "-c") configPath = args[++index];
      else if (arg.startsWith("--config=")) configPath = arg.slice("--config=".length);
      else if (arg !== "--") positionals.push(arg);
    }
    const { config } = await load(configPath);
    return (await import("./cli/keys.ts")).keysCommand(positionals, config);
  },
};

/** The password from stdin: typed at a terminal without echo, or piped. */
async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) {
    const text = await new Response(Bun.stdin.stream()).text();
    return text.replace(/\r?\n$/, "");
  }
  process.stderr.write("Password: ");
  process.stdin.setRawMode(true);
  let password = "";
  try {
    for await (const chunk of process.stdin) {
      for (const char of String(chunk)) {
        if (char === "\r" || char === "\n") return password;
        if (char === "\u0003") process.exit(130);
        password = char === "\u007f" ? password.slice(0, -1) : password + char;
      }
    }
    return password;
  } finally {
    process.stdin.setRawMode(false);
    process.stderr.write("\n");
  }
}

const globalOptions = {
  config: { type: "string", short: "c" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
} as const;

async function main(argv: string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (error) {
    // An operator gets the reason in one line (a store that cannot be opened,
    // a master key that does not decrypt the keys…), not a stack trace;
    // GATEHOUSE_DEBUG=1 shows the trace for a bug report.
    if (error instanceof ConfigError || !process.env.GATEHOUSE_DEBUG) {
      console.error(error instanceof ConfigError ? error.message : `gatehouse: ${(error as Error).message ?? error}`);
      return 1;
    }
    throw error;
  }
}

async function dispatch(argv: string[]): Promise<number> {
  const { tokens } = parseArgs({ args: argv, options: globalOptions, allowPositionals: true, strict: false, tokens: true });
  const named = tokens.find((token) => token.kind === "positional");
  if (named && Object.hasOwn(commandsWithOptions, named.value)) {
    return commandsWithOptions[named.value]([...argv.slice(0, named.index), ...argv.slice(named.index + 1)], loadConfig);
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: globalOptions });
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  if (parsed.values.version) return commands.version([], undefined);
  const [name = "serve", ...rest] = parsed.positionals;
  const command = commands[name];
  if (!command) {
    console.error(`unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  return command(rest, parsed.values.config);
}

// No top-level await: the compiled binary is built with bytecode (faster start-up), which needs a module without one.
void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
