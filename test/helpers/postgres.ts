// A private PostgreSQL server on loopback for the PostgreSQL suites: `initdb`
// into a temporary folder, `pg_ctl` on a free port with trust authentication
// for 127.0.0.1 only, and one database created for the caller.
// Debian's `postgresql` package is installed by test/setup.sh when running as
// root; without it (and not root) the suites are skipped, loudly.
// initdb and the server refuse to run as root, so as root every server command
// runs as the `postgres` user (created by the package) on a folder it owns.
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Socket, TCPSocketListener } from "bun";
import { temporaryDirectory } from "./gatehouse.ts";
import { freePort } from "./slapd.ts";

const isRoot = process.getuid?.() === 0;

/** The newest Debian PostgreSQL's bin folder (/usr/lib/postgresql/15/bin on Debian 12), or null. */
function findBinDir(): string | null {
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return null;
  const versions = readdirSync(base)
    .filter((name) => /^\d+$/.test(name) && existsSync(join(base, name, "bin/initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(base, versions[0]!, "bin") : null;
}

const binDir = findBinDir();
const postgresUser = isRoot ? userIds("postgres") : null;

function userIds(name: string): { uid: number; gid: number } | null {
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((entry) => entry.startsWith(`${name}:`));
  if (!line) return null;
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

export const postgresAvailable = binDir !== null && (!isRoot || postgresUser !== null);
if (!postgresAvailable) {
  const why = isRoot ? "test/setup.sh should have installed it" : "not root, so test/setup.sh could not install it";
  console.warn(`\n#### WARNING: PostgreSQL (Debian package postgresql) is missing (${why}): the PostgreSQL suites are SKIPPED ####\n`);
}

export interface Postgres {
  /** postgres://postgres@127.0.0.1:PORT/DATABASE */
  url: string;
  port: number;
  database: string;
  /** The data folder (the server's log is `server.log` beside it). */
  dir: string;
  /** Runs SQL through psql as the superuser and returns its unaligned, tuples-only output. */
  psql(sql: string, database?: string): string;
  /** Creates another database on the same server and returns its URL. */
  createDatabase(name: string): string;
  /** `pg_ctl restart -m fast`: every connection is cut, the server is back when this resolves. */
  restart(): Promise<void>;
  /** `pg_ctl stop -m fast`; `start()` brings the same server back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server if it runs and removes its folder. */
  destroy(): Promise<void>;
  /**
   * Stops the server and removes its folder once this process is gone, however it ends (bun test
   * fires no "exit" event): a watcher process polls this one's pid. For a server kept for the
   * whole process rather than destroyed in an afterAll.
   */
  destroyWithProcess(): void;
}

function serverCommand(command: string[]): string[] {
  return isRoot ? ["runuser", "-u", "postgres", "--", ...command] : command;
}

function run(command: string[], what: string): string {
  const result = Bun.spawnSync(serverCommand(command), { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`${what} failed (${result.exitCode}): ${result.stderr.toString().trim()}`);
  return result.stdout.toString();
}

/** Like run, without blocking the event loop (clients in the same process keep running meanwhile). */
async function runAsync(command: string[], what: string): Promise<void> {
  const child = Bun.spawn(serverCommand(command), { stdout: "ignore", stderr: "pipe" });
  const [exitCode, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()]);
  if (exitCode !== 0) throw new Error(`${what} failed (${exitCode}): ${stderr.trim()}`);
}

/** Starts a private server and creates `database` on it. */
export async function startPostgres(database = "gatehouse"): Promise<Postgres> {
  if (!binDir) throw new Error("PostgreSQL is not installed");
  const bin = (name: string) => join(binDir, name);
  const root = temporaryDirectory("gatehouse-postgres-");
  const dir = join(root, "data");
  const socketDir = join(root, "socket");
  const log = join(root, "server.log");
  mkdirSync(socketDir);
  if (postgresUser) {
    // mkdtemp makes the folder 0700 for root: hand it to the server's user.
    chownSync(root, postgresUser.uid, postgresUser.gid);
    chownSync(socketDir, postgresUser.uid, postgresUser.gid);
  }
  chmodSync(root, 0o700);
  run([bin("initdb"), "-D", dir, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"], "initdb");
  const port = freePort();
  // fsync off: a test server loses nothing worth keeping in a crash, and it spares the shared disk.
  const options = `-p ${port} -k ${socketDir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  const pgCtl = (action: string[]) => [bin("pg_ctl"), "-D", dir, "-l", log, "-o", options, "-w", "-t", "30", ...action];
  run(pgCtl(["start"]), "pg_ctl start");
  let running = true;
  const stop = async () => {
    if (!running) return;
    await runAsync(pgCtl(["stop", "-m", "fast"]), "pg_ctl stop");
    running = false;
  };
  const connection = ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres"];
  const psql = (sql: string, db = database) =>
    run([bin("psql"), ...connection, "-d", db, "-v", "ON_ERROR_STOP=1", "-X", "-q", "-A", "-t", "-c", sql], "psql").trim();
  const urlOf = (name: string) => `postgres://postgres@127.0.0.1:${port}/${name}`;
  const createDatabase = (name: string) => (run([bin("createdb"), ...connection, name], "createdb"), urlOf(name));
  createDatabase(database);
  return {
    url: urlOf(database),
    port,
    database,
    dir,
    psql,
    createDatabase,
    async restart() {
      await runAsync(pgCtl(["restart", "-m", "fast"]), "pg_ctl restart");
    },
    stop,
    async start() {
      await runAsync(pgCtl(["start"]), "pg_ctl start");
      running = true;
    },
    async destroy() {
      await stop();
      rmSync(root, { recursive: true, force: true });
    },
    destroyWithProcess() {
      const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;
      const stopServer = serverCommand(pgCtl(["stop", "-m", "immediate"])).map(quote).join(" ");
      const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ${stopServer} >/dev/null 2>&1; rm -rf ${quote(root)}`;
      Bun.spawn(["setsid", "bash", "-c", script], { stdin: "ignore", stdout: "ignore", stderr: "ignore" }).unref();
    },
  };
}

/** The p-th percentile (0–100) of an ascending list. */
export const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** Resolves once `check` is true, polling; rejects after `ms` (generous: the machine is shared). */
export async function eventually(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

export interface PgRelay {
  /** The server's URL through the relay. */
  url: string;
  /** While true, the cut connections relay nothing, either way, and nothing is closed: a dead peer (cable pulled, firewall dropping), which no socket error reveals. */
  cut: boolean;
  /** Resolves once bytes holding `text` have been passed on to one of the connections `cut` applies to. */
  passedOn(text: string): Promise<void>;
  stop(): void;
}

/**
 * A TCP relay to a test server that can stop relaying without closing
 * anything. `only: "gatehouse-listen"` cuts only the connections whose
 * start-up message names that application (Gatehouse's LISTEN connection,
 * src/store/pg/changes.ts); by default every connection.
 */
export function pgRelay(pg: Postgres, only?: string): PgRelay {
  const waiters: { text: string; wake: () => void }[] = [];
  type Side = { upstream: Socket<unknown> | null; pending: Uint8Array[]; seen: string; cuttable: boolean };
  const server: TCPSocketListener<Side> = Bun.listen<Side>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        client.data = { upstream: null, pending: [], seen: "", cuttable: only === undefined };
        void Bun.connect({
          hostname: "127.0.0.1",
          port: pg.port,
          socket: {
            data(_upstream, chunk) {
              if (client.data.cuttable && relay.cut) return;
              client.write(chunk);
              if (client.data.cuttable && waiters.length > 0) {
                const text = Buffer.from(chunk).toString("latin1");
                for (let index = waiters.length - 1; index >= 0; index--) {
                  if (text.includes(waiters[index]!.text)) waiters.splice(index, 1)[0]!.wake();
                }
              }
            },
            close: () => void client.end(),
            error: () => void client.end(),
          },
        }).then(
          (upstream) => {
            client.data.upstream = upstream;
            for (const chunk of client.data.pending) upstream.write(chunk);
            client.data.pending = [];
          },
          () => client.end(),
        );
      },
      data(client, chunk) {
        if (only !== undefined && client.data.seen.length < 2048) {
          client.data.seen += Buffer.from(chunk).toString("latin1");
          if (client.data.seen.includes(only)) client.data.cuttable = true;
        }
        if (client.data.cuttable && relay.cut) return;
        if (client.data.upstream) client.data.upstream.write(chunk);
        else client.data.pending.push(new Uint8Array(chunk));
      },
      close(client) {
        client.data.upstream?.end();
      },
    },
  });
  const relay: PgRelay = {
    url: pg.url.replace(`:${pg.port}/`, `:${server.port}/`),
    cut: false,
    passedOn: (text) => new Promise<void>((wake) => waiters.push({ text, wake })),
    stop: () => server.stop(true),
  };
  return relay;
}
