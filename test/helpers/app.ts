// An in-process Gatehouse on an ephemeral loopback port, with its log lines
// captured (at trace level) so tests can assert what is and is not logged.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { buildConfig } from "../../src/config/load.ts";
import { createGatehouse, type Gatehouse, type GatehouseOptions } from "../../src/app.ts";
import { createLogger } from "../../src/log.ts";
import type { Store } from "../../src/store/database.ts";
import { SqliteBackend } from "../../src/store/sqlite-backend.ts";
import { locationOf, onTestStore, type StoreLocation } from "./stored.ts";

export interface TestApp {
  url: string;
  logs: string[];
  gatehouse: Gatehouse;
  /** Where its store is (SQLite file or PostgreSQL database): for storedRows/storedText (test/helpers/stored.ts). */
  storeLocation: StoreLocation;
  /** The config it was started from, its store moved to PostgreSQL under GATEHOUSE_TEST_STORE=postgres: for a second app or a command on the same store. */
  raw: Record<string, any>;
  stop(): Promise<void>;
}

export function seedConfig(): Record<string, any> {
  return parse(readFileSync(join(import.meta.dir, "../fixtures/seed-config.yaml"), "utf8"));
}

/** Starts Gatehouse in this process; under GATEHOUSE_TEST_STORE=postgres its store is a PostgreSQL database (test/helpers/stored.ts). */
export async function startApp(given: Record<string, unknown>, givenEnv: Record<string, string> = {}, options: GatehouseOptions = {}): Promise<TestApp> {
  const { raw, env } = await onTestStore(given, givenEnv);
  const { config } = buildConfig(raw, "test", env);
  const logs: string[] = [];
  const logger = createLogger({ level: "trace", format: "json", write: (line) => logs.push(line) });
  const gatehouse = await createGatehouse(config, logger, options);
  gatehouse.app.listen({ hostname: "127.0.0.1", port: 0 });
  return {
    url: `http://127.0.0.1:${gatehouse.app.server!.port}`,
    logs,
    gatehouse,
    storeLocation: locationOf(config.store, gatehouse.store),
    raw,
    async stop() {
      await gatehouse.app.stop(true);
      await gatehouse.close();
    },
  };
}

export const basic = (username: string, password: string) =>
  `Basic ${Buffer.from(`${username}:${password}`, "utf8").toString("base64")}`;

/** Sends raw bytes as an HTTP/1.1 request (for headers fetch() refuses to send) and returns the status code. */
export async function rawRequest(url: string, headerBytes: Uint8Array): Promise<{ status: number; text: string }> {
  const head = new TextEncoder().encode(`GET /authenticate HTTP/1.1\r\nHost: ${new URL(url).hostname}\r\nConnection: close\r\nAuthorization: `);
  return rawBytes(url, Buffer.concat([head, headerBytes, new TextEncoder().encode("\r\n\r\n")]));
}

/** Sends `head` (request line and headers, CRLF-separated, without the final blank line) as it is; for Host headers fetch() would not send. */
export function rawHttp(url: string, head: string): Promise<{ status: number; text: string }> {
  return rawBytes(url, new TextEncoder().encode(`${head}\r\nConnection: close\r\n\r\n`));
}

async function rawBytes(url: string, bytes: Uint8Array): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(url);
  const chunks: Uint8Array[] = [];
  return await new Promise((resolve, reject) => {
    Bun.connect({
      hostname,
      port: Number(port),
      socket: {
        open(socket) {
          socket.write(bytes);
        },
        data(_socket, data) {
          chunks.push(data);
        },
        close() {
          const text = Buffer.concat(chunks).toString("latin1");
          resolve({ status: Number(text.split(" ")[1] ?? 0), text });
        },
        error(_socket, error) {
          reject(error);
        },
      },
    }).catch(reject);
  });
}

/** The captured log lines (auth-o-tron's OpenTelemetry shape) as flat records: `event` and every attribute. */
export function logEvents(app: { logs: string[] }): Record<string, any>[] {
  return app.logs.map((line) => {
    const record = JSON.parse(line);
    return { event: record.attributes["event.name"], level: String(record.severityText).toLowerCase(), ...record.attributes };
  });
}

/** A response's JSON body, typed loosely for assertions. */
export const json = (response: Response): Promise<any> => response.json();

/** A config with one `plain` provider "local" (realm local) of these users, an HS256 secret and a store in `dir`; `extra` adds or replaces sections. */
export function localUsersConfig(dir: string, users: { username: string; password: string; roles?: string[] }[], extra: Record<string, unknown> = {}) {
  return {
    version: "2.0.0",
    logging: { level: "info", format: "json" },
    providers: [{ type: "plain", name: "local", realm: "local", users }],
    jwt: { iss: "gatehouse-test", secret: "gatehouse-test-secret-0123456789abcdef" },
    store: { enabled: true, path: join(dir, "gatehouse.db") },
    ...extra,
  };
}

/** The SQLite store under a test app's backend, for reading and writing rows directly. */
export function storeOf(gatehouse: Pick<Gatehouse, "store">): Store {
  if (!(gatehouse.store instanceof SqliteBackend)) throw new Error("this test needs the SQLite store");
  return gatehouse.store.store;
}
