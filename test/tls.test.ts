// HTTPS served by Gatehouse itself, with certificates made here by openssl:
// keys with and without a pass phrase, the start-up errors (wrong pass
// phrase, missing file, a key of another certificate), ecFlow's tls.dir
// names, HTTP and HTTPS at once, `gatehouse tls self-signed`, and the
// client trusting a given CA and refusing a server it does not vouch for.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadTls, TlsError } from "../src/tls.ts";
import { projectRoot, spawnGatehouse, temporaryDirectory, type RunningGatehouse } from "./helpers/gatehouse.ts";
import { freePort } from "./helpers/nginx.ts";
import { basic } from "./helpers/app.ts";

const opensslAvailable = Bun.which("openssl") !== null;
if (!opensslAvailable) console.warn("\n!!! SKIPPING tls: openssl is not installed (run test/setup.sh as root, or apt-get install openssl) !!!\n");

const PASSPHRASE = "correct horse battery";
let dir: string;

function openssl(...args: string[]) {
  const run = Bun.spawnSync(["openssl", ...args], { stdout: "pipe", stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${run.stderr.toString()}`);
}

/** A self-signed certificate for localhost and 127.0.0.1: NAME.crt and NAME.key, the key encrypted when a pass phrase is given. */
function certificate(name: string, passphrase?: string) {
  const protection = passphrase ? ["-passout", `pass:${passphrase}`] : ["-noenc"];
  openssl("req", "-x509", "-newkey", "rsa:2048", "-days", "2", ...protection, "-keyout", join(dir, `${name}.key`), "-out", join(dir, `${name}.crt`),
    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1");
}

const CONFIG = (tls: string) => `
version: "2.0.0"
logging: { level: info, format: json }
providers:
  - { type: plain, name: local, realm: local, users: [{ username: alice, password: alice-pw }] }
jwt: { iss: tls-test, secret: tls-test-secret-0123456789abcdef0123 }
store: { enabled: true, type: sqlite, path: ./data/gatehouse.db }
tls: ${tls}
`;

const trusting = (file: string) => ({ tls: { ca: readFileSync(file, "utf8") } }) as RequestInit;
const running: RunningGatehouse[] = [];
async function serve(tls: string, env: Record<string, string> = {}) {
  const server = await spawnGatehouse({ config: CONFIG(tls), env });
  running.push(server);
  return server;
}

/** The start-up error of a config that must not start. */
async function startupError(tls: string): Promise<string> {
  try {
    await serve(tls);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("the server started");
}

describe.skipIf(!opensslAvailable)("HTTPS served directly", () => {
  beforeAll(() => {
    dir = temporaryDirectory("gatehouse-tls-");
    certificate("plain");
    certificate("locked", PASSPHRASE);
    certificate("stranger");
    writeFileSync(join(dir, "locked.passwd"), `${PASSPHRASE}\n`);
    writeFileSync(join(dir, "wrong.passwd"), "not the pass phrase\n");
  });
  afterAll(async () => {
    await Promise.all(running.map((server) => server.stop()));
  });

  test("a certificate and a key without a pass phrase: HTTPS on server.port, trusted through the certificate", async () => {
    const server = await serve(`{ cert: ${dir}/plain.crt, key: ${dir}/plain.key }`);
    expect(server.url).toStartWith("https://127.0.0.1:");
    const response = await fetch(`${server.url}/whoami`, { headers: { authorization: basic("alice", "alice-pw") }, ...trusting(`${dir}/plain.crt`) });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { username: string }).username).toBe("alice");
    // A client that does not trust the certificate does not get through.
    await expect(fetch(`${server.url}/health`)).rejects.toThrow();
    // No plain HTTP on that port.
    await expect(fetch(server.url.replace("https:", "http:") + "/health")).rejects.toThrow();
    // `gatehouse healthcheck` (containers) asks that port over HTTPS.
    const probe = (port: number) =>
      Bun.spawn([process.execPath, "run", join(projectRoot, "src/main.ts"), "healthcheck", "--config", server.configPath], {
        cwd: server.dir,
        env: { ...process.env, GATEHOUSE_BIND_ADDRESS: `127.0.0.1:${port}` },
        stdout: "ignore",
        stderr: "ignore",
      }).exited;
    expect(await probe(server.port)).toBe(0);
    expect(await probe(freePort())).toBe(1);
  });

  test("an encrypted key with its pass phrase file", async () => {
    const server = await serve(`{ cert: ${dir}/locked.crt, key: ${dir}/locked.key, passphrase_file: ${dir}/locked.passwd }`);
    const response = await fetch(`${server.url}/authenticate`, { headers: { authorization: basic("alice", "alice-pw") }, ...trusting(`${dir}/locked.crt`) });
    expect(response.status).toBe(200);
  });

  test("start-up errors name the file: wrong pass phrase, none, a missing file, a key of another certificate", async () => {
    expect(await startupError(`{ cert: ${dir}/locked.crt, key: ${dir}/locked.key, passphrase_file: ${dir}/wrong.passwd }`)).toContain(
      `tls.key: cannot decrypt ${dir}/locked.key with the pass phrase in ${dir}/wrong.passwd: wrong pass phrase`,
    );
    expect(await startupError(`{ cert: ${dir}/locked.crt, key: ${dir}/locked.key }`)).toContain(
      `tls.key: ${dir}/locked.key is encrypted and no pass phrase was given`,
    );
    expect(await startupError(`{ cert: ${dir}/missing.crt, key: ${dir}/plain.key }`)).toContain(`tls.cert: cannot read ${dir}/missing.crt: ENOENT`);
    expect(await startupError(`{ cert: ${dir}/plain.crt, key: ${dir}/stranger.key }`)).toContain(
      `tls.key: ${dir}/stranger.key does not match the certificate ${dir}/plain.crt`,
    );
    // The message is the reason, never the pass phrase.
    expect(await startupError(`{ cert: ${dir}/locked.crt, key: ${dir}/locked.key, passphrase_file: ${dir}/wrong.passwd }`)).not.toContain("not the pass phrase");
  });

  test("tls.dir: ecFlow's server.* names, preferred to the <host>.<port>.* ones; dh2048.pem before dh1024.pem", () => {
    const ssl = join(temporaryDirectory("gatehouse-ecflowrc-"), "ssl");
    mkdirSync(ssl);
    openssl("dhparam", "-out", join(ssl, "dh1024.pem"), "1024");
    // Only the <host>.<port> variant: it is used, with its .passwd and .pem.
    copyFileSync(join(dir, "locked.crt"), join(ssl, "ecf1.3141.crt"));
    copyFileSync(join(dir, "locked.key"), join(ssl, "ecf1.3141.key"));
    copyFileSync(join(dir, "locked.passwd"), join(ssl, "ecf1.3141.passwd"));
    copyFileSync(join(ssl, "dh1024.pem"), join(ssl, "ecf1.3141.pem"));
    let setup = loadTls({ dir: ssl, host: "ecf1" }, { port: 3141 });
    expect(setup.files).toEqual({ cert: `${ssl}/ecf1.3141.crt`, key: `${ssl}/ecf1.3141.key`, passphrase: `${ssl}/ecf1.3141.passwd`, dhparams: `${ssl}/ecf1.3141.pem`, ca: undefined });
    expect(setup.options.passphrase).toBe(PASSPHRASE);
    expect(setup.port).toBeNull();
    // Another host or port: nothing found, and the message says what was looked for.
    expect(() => loadTls({ dir: ssl, host: "ecf2" }, { port: 3141 })).toThrow(`no certificate in ${ssl}: looked for server.crt and ecf2.3141.crt`);

    // The plain names, once present, win; the dh file is dh1024.pem until a dh2048.pem exists.
    copyFileSync(join(dir, "plain.crt"), join(ssl, "server.crt"));
    copyFileSync(join(dir, "plain.key"), join(ssl, "server.key"));
    setup = loadTls({ dir: ssl, host: "ecf1", port: 3141 }, { port: 8080 });
    expect(setup.files).toMatchObject({ cert: `${ssl}/server.crt`, key: `${ssl}/server.key`, passphrase: undefined, dhparams: `${ssl}/dh1024.pem` });
    expect(setup.options.passphrase).toBeUndefined();
    expect(setup.port).toBe(3141);
    copyFileSync(join(ssl, "dh1024.pem"), join(ssl, "dh2048.pem"));
    expect(loadTls({ dir: ssl }, { port: 8080 }).files.dhparams).toBe(`${ssl}/dh2048.pem`);
    // tls.name picks the variant, as ECF_SSL=<host>.<port> does.
    expect(loadTls({ dir: ssl, name: "ecf1.3141" }, { port: 8080 }).files.cert).toBe(`${ssl}/ecf1.3141.crt`);
    // A file given by name wins over the folder's.
    expect(loadTls({ dir: ssl, cert: `${dir}/plain.crt` }, { port: 8080 }).files.cert).toBe(`${dir}/plain.crt`);
    // A dh file that is not DH parameters is refused.
    writeFileSync(join(ssl, "dh2048.pem"), "garbage");
    expect(() => loadTls({ dir: ssl }, { port: 8080 })).toThrow(TlsError);
  }, 60_000);

  test("HTTP and HTTPS at once on two ports (tls.port), from an ecFlow dir with an encrypted key", async () => {
    const ssl = temporaryDirectory("gatehouse-ecflowrc-");
    copyFileSync(join(dir, "locked.crt"), join(ssl, "server.crt"));
    copyFileSync(join(dir, "locked.key"), join(ssl, "server.key"));
    copyFileSync(join(dir, "locked.passwd"), join(ssl, "server.passwd"));
    const httpsPort = freePort();
    const server = await serve(`{ dir: ${ssl}, port: ${httpsPort} }`);
    expect(server.url).toStartWith("http://127.0.0.1:");
    const started = server.logs.find((line) => line.includes("server.started"))!;
    expect(started).toContain(`"https_url":"https://127.0.0.1:${httpsPort}"`);
    const plain = await fetch(`${server.url}/whoami`, { headers: { authorization: basic("alice", "alice-pw") } });
    const secure = await fetch(`https://127.0.0.1:${httpsPort}/whoami`, { headers: { authorization: basic("alice", "alice-pw") }, ...trusting(`${ssl}/server.crt`) });
    expect([plain.status, secure.status]).toEqual([200, 200]);
    expect(((await secure.json()) as { username: string }).username).toBe("alice");
  });

  describe("gatehouse tls self-signed and the client", () => {
    let ssl: string;
    let server: RunningGatehouse;
    let home: string;

    async function run(...args: string[]) {
      return runWith({}, ...args);
    }
    async function runWith(extra: Record<string, string>, ...args: string[]) {
      const env: Record<string, string | undefined> = { ...process.env, HOME: home };
      delete env.GATEHOUSE_CA_FILE;
      Object.assign(env, extra);
      const child = Bun.spawn([process.execPath, "run", join(projectRoot, "src/main.ts"), ...args], { cwd: home, env, stdout: "pipe", stderr: "pipe" });
      const [code, stdout, stderr] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]);
      return { code, stdout, stderr };
    }

    beforeAll(async () => {
      home = temporaryDirectory("gatehouse-tls-home-");
      ssl = join(home, ".ecflowrc", "ssl");
      const made = await run("tls", "self-signed", "--host", "127.0.0.1", "--out", ssl, "--passphrase");
      expect(made.code).toBe(0);
      server = await serve(`{ dir: ${ssl} }`);
      writeFileSync(join(home, ".ecflowapirc"), JSON.stringify({ version: 1, tokens: [{ server: ".*", type: "basic", api: { username: "alice", password: "alice-pw" } }] }), { mode: 0o600 });
    });

    test("writes server.crt, an encrypted server.key and server.passwd (0600), and refuses to overwrite them", async () => {
      expect(readFileSync(join(ssl, "server.key"), "utf8")).toContain("ENCRYPTED");
      expect(statSync(join(ssl, "server.key")).mode & 0o077).toBe(0);
      expect(statSync(join(ssl, "server.passwd")).mode & 0o077).toBe(0);
      expect(existsSync(join(ssl, "dh2048.pem"))).toBe(false);
      const again = await run("tls", "self-signed", "--host", "127.0.0.1", "--out", ssl);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain("already exist");
    });

    test("the client trusts the server through --ca (or $GATEHOUSE_CA_FILE)", async () => {
      const whoami = await run("client", "--server", server.url, "--ca", join(ssl, "server.crt"), "whoami");
      expect(whoami.stderr).toBe("");
      expect(JSON.parse(whoami.stdout).username).toBe("alice");
      expect(whoami.code).toBe(0);
      const fromEnv = await runWith({ GATEHOUSE_CA_FILE: join(ssl, "server.crt") }, "client", "--server", server.url, "whoami");
      expect(fromEnv.code).toBe(0);
      // Without it, the system's CAs do not know a self-signed certificate.
      const without = await run("client", "--server", server.url, "whoami");
      expect(without.code).toBe(1);
      expect(without.stderr).toContain("give --ca FILE");
    });

    test("the client refuses a server its CA file does not vouch for, and says why", async () => {
      const refused = await run("client", "--server", server.url, "--ca", join(dir, "stranger.crt"), "whoami");
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("the server's certificate is not trusted");
      const none = await run("client", "--server", server.url, "--ca", join(dir, "nowhere.crt"), "whoami");
      expect(none.code).toBe(1);
      expect(none.stderr).toContain("--ca");
      expect(none.stderr).toContain("ENOENT");
    });
  });
});
