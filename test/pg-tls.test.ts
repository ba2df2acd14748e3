// store.tls against a PostgreSQL serving TLS with a certificate from a private
// CA: with ca_file the server is verified (and a wrong CA refused), with
// reject_unauthorized: false the connection is encrypted but unverified,
// without store.tls the URL decides (plain here).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, copyFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SQL } from "bun";
import { migratePg, pgClientOptions, type PgSettings } from "../src/store/pg/database.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";
import { postgresAvailable, startPostgres, type Postgres } from "./helpers/postgres.ts";

function openssl(args: string[], cwd: string): void {
  const result = Bun.spawnSync(["openssl", ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr.toString()}`);
}

/** A CA and a server certificate it signed for 127.0.0.1; and another CA that signed nothing. */
function certificates(dir: string): void {
  const ca = (name: string) => {
    openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", `/CN=${name}`, "-keyout", `${name}.key`, "-out", `${name}.pem`], dir);
  };
  ca("test-ca");
  ca("other-ca");
  openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"], dir);
  writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  openssl(["x509", "-req", "-in", "server.csr", "-CA", "test-ca.pem", "-CAkey", "test-ca.key", "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt"], dir);
}

describe.skipIf(!postgresAvailable)("store.tls", () => {
  let pg: Postgres;
  let dir: string;

  beforeAll(async () => {
    pg = await startPostgres("gatehouse_tls");
    dir = temporaryDirectory("gatehouse-pg-tls-");
    certificates(dir);
    // The server's key must belong to the server's user, mode 0600.
    const owner = statSync(pg.dir);
    for (const name of ["server.crt", "server.key"]) {
      copyFileSync(join(dir, name), join(pg.dir, name));
      chownSync(join(pg.dir, name), owner.uid, owner.gid);
      chmodSync(join(pg.dir, name), 0o600);
    }
    pg.psql("ALTER SYSTEM SET ssl = on");
    pg.psql("SELECT pg_reload_conf()");
    await Bun.sleep(300);
  }, 60_000);

  afterAll(async () => {
    await pg?.destroy();
  });

  /** Whether this connection is encrypted, as the server sees it; or the error's code. */
  async function encrypted(settings: PgSettings): Promise<boolean | string> {
    const client = new SQL(pgClientOptions(settings, { max: 1 }));
    try {
      const [{ ssl }] = await client`SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`;
      return ssl as boolean;
    } catch (error) {
      return `refused: ${(error as { code?: string }).code ?? (error as Error).message}`;
    } finally {
      await client.close();
    }
  }

  test("ca_file: verified against the private CA, encrypted; migratePg works over it", async () => {
    const settings = { url: pg.url, tls: { ca_file: join(dir, "test-ca.pem"), reject_unauthorized: true } };
    expect(await encrypted(settings)).toBe(true);
    expect((await migratePg(settings)).total).toBeGreaterThan(0);
  });

  test("a CA that did not sign the server's certificate, or none (the system's CAs), is refused", async () => {
    expect(await encrypted({ url: pg.url, tls: { ca_file: join(dir, "other-ca.pem"), reject_unauthorized: true } })).toStartWith("refused");
    expect(await encrypted({ url: pg.url, tls: { reject_unauthorized: true } })).toStartWith("refused");
  });

  test("reject_unauthorized: false encrypts without verifying; no store.tls leaves it to the URL (plain here, sslmode=require encrypts)", async () => {
    expect(await encrypted({ url: pg.url, tls: { reject_unauthorized: false } })).toBe(true);
    expect(await encrypted({ url: pg.url })).toBe(false);
    expect(await encrypted({ url: `${pg.url}?sslmode=require` })).toBe(true);
  });
});
