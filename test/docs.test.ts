// The documentation as a newcomer reads it: README.md and docs/.
// - Every shell example (```sh, ```bash, ```console) is either run by a test, named in COVERED
//   below, or marked next to it with `<!-- not run here: the reason -->`.
// - Every relative link points at a file that exists, and at a heading that exists when it has a #.
// - The README's quick start, run as printed: hash-password, the secret, its config through
//   `config check` and `serve`, then a password and an API token through /authenticate.
import { describe, expect, test } from "bun:test";
import { decodeProtectedHeader, importSPKI, jwtVerify } from "jose";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { runGatehouse } from "./helpers/cli.ts";
import { projectRoot, spawnGatehouse, temporaryDirectory } from "./helpers/gatehouse.ts";

/** README.md and every Markdown page under docs/, as paths relative to the project. */
function pages(): string[] {
  const found = ["README.md"];
  const walk = (dir: string) => {
    for (const name of readdirSync(join(projectRoot, dir)).sort()) {
      const path = join(dir, name);
      if (statSync(join(projectRoot, path)).isDirectory()) walk(path);
      else if (name.endsWith(".md")) found.push(path);
    }
  };
  walk("docs");
  return found;
}

const read = (page: string) => readFileSync(join(projectRoot, page), "utf8");

interface ShellBlock {
  page: string;
  line: number;
  first: string;
  marked: string | null;
}

const SHELL_FENCE = /^\s*```(sh|bash|console)\s*$/;
const ANY_FENCE = /^\s*```/;
const NOT_RUN = /^\s*<!-- not run here: (.*\S.*) -->\s*$/;

/** The shell blocks of a page, each with its first line and its "not run here" mark (the line before the fence or after it). */
function shellBlocks(page: string): ShellBlock[] {
  const lines = read(page).split("\n");
  const blocks: ShellBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!ANY_FENCE.test(lines[i])) continue;
    let end = i + 1;
    while (end < lines.length && !ANY_FENCE.test(lines[end])) end++;
    if (SHELL_FENCE.test(lines[i])) {
      const before = lines[i - 1]?.match(NOT_RUN) ?? lines[i - 2]?.match(NOT_RUN);
      const after = lines[end + 1]?.match(NOT_RUN);
      blocks.push({ page, line: i + 1, first: lines[i + 1].trim(), marked: (before ?? after)?.[1] ?? null });
    }
    i = end;
  }
  return blocks;
}

/**
 * Shell examples run by a test: the page, the block's first line, and the test that runs its
 * commands (as printed, or the same commands through the same code: the CLI as a process, the
 * HTTP routes on a running server).
 */
const COVERED: { page: string; first: string; by: string }[] = [
  // The development default: npm start, its printed admin password through /authenticate, and a 401 without it.
  { page: "README.md", first: "npm start", by: "test/cli.test.ts" },
  // The quick start's first config: below in this file.
  { page: "README.md", first: "npm run gatehouse -- hash-password", by: "test/docs.test.ts" },
  { page: "README.md", first: "npm run gatehouse -- config check config.yaml", by: "test/docs.test.ts" },
  { page: "README.md", first: 'curl -i -H "Authorization: Bearer gth_…" http://127.0.0.1:8080/authenticate', by: "test/docs.test.ts" },
  // auth-o-tron's token routes and the REST ones, each with Basic and Bearer.
  { page: "docs/api-tokens.md", first: "# auth-o-tron's routes", by: "test/tokens.test.ts" },
  { page: "docs/api-tokens.md", first: "curl -X POST -u someuser:somesecret https://host/api/v1/tokens/tok_…/rotate", by: "test/token-lifecycle.test.ts" },
  // The ecFlow client's steps, against examples/nginx/portal.conf's /auth.
  { page: "docs/command-line.md", first: "# 1. The file holds the basic entry alone (chmod 600 the file):", by: "test/examples.test.ts" },
  // The RSA key made with openssl, as printed, then the key of config check and serve: below in this file.
  { page: "docs/signing-keys.md", first: "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out jwt-private.pem", by: "test/docs.test.ts" },
  { page: "docs/operations.md", first: "curl -u admin:… 'https://host/api/v1/audit?event=regulation.*&since=24h&limit=50'", by: "test/audit.test.ts" },
  { page: "docs/sessions.md", first: "curl https://host/api/v1/ | jq .authentication", by: "test/sessions.test.ts" },
  { page: "docs/sessions.md", first: "gatehouse login --server https://host --scopes ecflow:read,ecflow:write --expires-in 30d", by: "test/login-cli.test.ts" },
  { page: "docs/web-applications.md", first: "$ gatehouse access check --url https://ecflow.example.org/v1/suites --method POST --user alice --scopes ecflow:read", by: "test/access.test.ts" },
];

const firstLineOf = (first: string) => first.replace(/\s+#.*$/, "").trim();

describe("every shell example of the docs is run by a test or says why not", () => {
  const blocks = pages().flatMap(shellBlocks);

  test("there are shell examples to check (the check finds them)", () => {
    expect(blocks.length).toBeGreaterThan(10);
  });

  test("each block is covered by a named test or marked, not both", () => {
    const problems: string[] = [];
    for (const block of blocks) {
      const covered = COVERED.filter((entry) => entry.page === block.page && firstLineOf(entry.first) === firstLineOf(block.first));
      if (covered.length === 0 && !block.marked) problems.push(`${block.page}:${block.line}: neither run by a test (COVERED) nor marked <!-- not run here: … -->: ${block.first}`);
      if (covered.length > 0 && block.marked) problems.push(`${block.page}:${block.line}: both covered and marked not run: ${block.first}`);
    }
    expect(problems).toEqual([]);
  });

  test("each COVERED entry names a block that exists and a test file that exists", () => {
    const problems: string[] = [];
    for (const entry of COVERED) {
      if (!blocks.some((block) => block.page === entry.page && firstLineOf(block.first) === firstLineOf(entry.first))) problems.push(`no block in ${entry.page} starts with ${entry.first}`);
      if (!existsSync(join(projectRoot, entry.by))) problems.push(`${entry.by} does not exist`);
    }
    expect(problems).toEqual([]);
  });
});

/** GitHub's anchors of a page: each heading's (lower case, punctuation dropped, spaces as hyphens; repeats numbered) and each `<a id>`. */
function anchorsOf(page: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of read(page).split("\n")) {
    if (ANY_FENCE.test(line)) fenced = !fenced;
    if (fenced) continue;
    for (const explicit of line.matchAll(/<a (?:id|name)="([^"]+)"/g)) anchors.add(explicit[1]);
    const heading = line.match(/^#{1,6} (.+?)\s*#*$/);
    if (!heading) continue;
    const base = heading[1]
      .toLowerCase()
      .replace(/<[^>]+>/g, "")
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/ /g, "-");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** The links of a page outside code (fenced blocks and inline code spans). */
function linksOf(page: string): { target: string; line: number }[] {
  const links: { target: string; line: number }[] = [];
  let fenced = false;
  read(page)
    .split("\n")
    .forEach((line, index) => {
      if (ANY_FENCE.test(line)) {
        fenced = !fenced;
        return;
      }
      if (fenced) return;
      const prose = line.replace(/`[^`]*`/g, "");
      for (const match of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) links.push({ target: match[1], line: index + 1 });
    });
  return links;
}

describe("every relative link of the docs leads somewhere", () => {
  test("to a file that exists, and a heading that exists", () => {
    const problems: string[] = [];
    let checked = 0;
    for (const page of pages()) {
      for (const { target, line } of linksOf(page)) {
        if (/^[a-z][a-z+.-]*:/i.test(target)) continue; // https:, mailto:
        checked++;
        const [path, anchor] = target.split("#", 2);
        const file = path === "" ? join(projectRoot, page) : resolve(dirname(join(projectRoot, page)), decodeURI(path));
        const where = `${page}:${line}: ${target}`;
        if (!file.startsWith(projectRoot) || !existsSync(file)) {
          problems.push(`${where}: no such file`);
          continue;
        }
        if (anchor !== undefined) {
          if (!file.endsWith(".md")) problems.push(`${where}: an anchor into a file that is not Markdown`);
          else if (!anchorsOf(relative(projectRoot, file)).has(anchor)) problems.push(`${where}: no heading #${anchor} in ${relative(projectRoot, file)}`);
        }
      }
    }
    expect(checked).toBeGreaterThan(50);
    expect(problems).toEqual([]);
  });

  test("the check reads headings, ids and links as GitHub does (a check of the check)", () => {
    const dir = temporaryDirectory("gatehouse-docs-");
    writeFileSync(join(dir, "page.md"), '# A page\n\n## Every core: `server.workers`\n\n## Second part\n\n## Second part\n\n<a id="opId"></a>\n\n[here](#second-part) `[code](nowhere.md)`\n```sh\n# not a heading\n```\n');
    expect(anchorsOf(relative(projectRoot, join(dir, "page.md")))).toEqual(new Set(["a-page", "every-core-serverworkers", "second-part", "second-part-1", "opId"]));
    expect(linksOf(relative(projectRoot, join(dir, "page.md"))).map((link) => link.target)).toEqual(["#second-part"]);
  });
});

// ---------------------------------------------------------------------------
// The README's quick start, step 2 and 4, as printed.

const README = read("README.md");
const quickStart = README.slice(README.indexOf("### 2. A first config"), README.indexOf("## Documentation"));

function shellLines(text: string, first: string): string[] {
  const block = [...text.matchAll(/```sh\n([^]*?)```/g)].map((match) => match[1]).find((body) => body.startsWith(first));
  if (!block) throw new Error(`README: no sh block starting with ${first}`);
  return block.trim().split("\n").map((line) => line.replace(/\s+#.*$/, "").trim());
}

describe("the README's quick start: a first config, a password and a token", () => {
  test("hash-password, the secret, config check, serve, /authenticate, and an API token scoped app:read", async () => {
    const dir = temporaryDirectory("gatehouse-quick-start-");
    const [hashLine, secretLine] = shellLines(quickStart, "npm run gatehouse -- hash-password");
    expect(hashLine).toBe("npm run gatehouse -- hash-password");
    const hashed = runGatehouse(["hash-password"], { cwd: dir, stdin: "a quick start password\n" });
    expect(hashed.code).toBe(0);
    const hash = hashed.stdout.trim();
    expect(hash).toStartWith("$argon2id$");
    const secret = Bun.spawnSync(["sh", "-c", secretLine], { cwd: dir });
    expect(secret.exitCode).toBe(0);

    const yaml = quickStart.match(/```yaml\n([^]*?)```/)![1];
    const placeholder = yaml.match(/"\$argon2id\$[^"]*…"/)![0];
    const config = yaml.replace(placeholder, JSON.stringify(hash));
    writeFileSync(join(dir, "config.yaml"), config);

    const [checkLine, startLine, curlLine] = shellLines(quickStart, "npm run gatehouse -- config check");
    expect([checkLine, startLine]).toEqual(["npm run gatehouse -- config check config.yaml", "npm start -- --config config.yaml"]);
    const checked = runGatehouse(["config", "check", "config.yaml"], { cwd: dir });
    expect({ code: checked.code, output: checked.stdout + checked.stderr }).toMatchObject({ code: 0 });

    const server = await spawnGatehouse({ config, cwd: dir });
    try {
      expect(curlLine).toStartWith("curl -i -u alice:PASSWORD http://127.0.0.1:8080/authenticate");
      const basic = `Basic ${Buffer.from("alice:a quick start password").toString("base64")}`;
      const ok = await fetch(`${server.url}/authenticate`, { headers: { authorization: basic } });
      expect(ok.status).toBe(200);
      expect([ok.headers.get("x-auth-username"), ok.headers.get("x-auth-roles")]).toEqual(["alice", "reader"]);
      expect((await fetch(`${server.url}/authenticate`)).status).toBe(401);

      // Step 4: the token the portal's form makes (the same service), then the README's two requests.
      const created = await fetch(`${server.url}/api/v1/tokens`, {
        method: "POST",
        headers: { authorization: basic, "content-type": "application/json" },
        body: JSON.stringify({ note: "quick start", scopes: { app: ["read"] } }),
      });
      expect(created.status).toBe(201);
      const { token } = (await created.json()) as { token: string };
      const [authenticateLine, listLine] = shellLines(README, 'curl -i -H "Authorization: Bearer gth_…"');
      expect(authenticateLine).toContain("/authenticate");
      expect(listLine).toContain("/api/v1/tokens");
      const bearer = { authorization: `Bearer ${token}` };
      const withToken = await fetch(`${server.url}/authenticate`, { headers: bearer });
      expect([withToken.status, withToken.headers.get("x-auth-username")]).toEqual([200, "alice"]);
      expect((await fetch(`${server.url}/api/v1/tokens`, { headers: bearer })).status).toBe(403);
    } finally {
      await server.stop();
    }
  }, 60_000);
});

describe("docs/signing-keys.md: a configured RSA key, made as printed", () => {
  test("openssl's key and AOT_JWT__PRIVATE_KEY: config check takes it, serve signs RS256 under the kid, the public half verifies", async () => {
    const page = read("docs/signing-keys.md");
    const block = page.match(/\n {2}```sh\n([^]*?) {2}```/)![1];
    const [genpkey, pkey, exported] = block.trim().split("\n").map((line) => line.replace(/\s+#.*$/, "").trim());
    expect(exported).toBe('export AOT_JWT__PRIVATE_KEY="$(cat jwt-private.pem)"');
    const dir = temporaryDirectory("gatehouse-docs-rsa-");
    const made = Bun.spawnSync(["sh", "-c", `${genpkey} && ${pkey}`], { cwd: dir, stderr: "pipe" });
    expect({ code: made.exitCode, stderr: made.exitCode === 0 ? "" : made.stderr.toString() }).toEqual({ code: 0, stderr: "" });
    const privateKey = readFileSync(join(dir, "jwt-private.pem"), "utf8");

    const config = [
      "providers:",
      "  - { name: local-users, type: plain, realm: local, users: [{ username: alice, password: a-password-for-the-test }] }",
      "jwt: { iss: gatehouse, kid: key-2026-12 }",
      "",
    ].join("\n");
    writeFileSync(join(dir, "config.yaml"), config);
    const environment = { AOT_JWT__PRIVATE_KEY: privateKey };
    const checked = runGatehouse(["config", "check", "config.yaml"], { cwd: dir, env: environment });
    expect({ code: checked.code, output: checked.stdout + checked.stderr }).toMatchObject({ code: 0 });

    const server = await spawnGatehouse({ config, cwd: dir, env: environment });
    try {
      const answer = await fetch(`${server.url}/authenticate`, {
        headers: { authorization: `Basic ${Buffer.from("alice:a-password-for-the-test").toString("base64")}` },
      });
      expect(answer.status).toBe(200);
      const jwt = answer.headers.get("authorization")!.replace(/^Bearer /, "");
      expect(decodeProtectedHeader(jwt)).toMatchObject({ alg: "RS256", kid: "key-2026-12" });
      const publicKey = await importSPKI(readFileSync(join(dir, "jwt-public.pem"), "utf8"), "RS256");
      const { payload } = await jwtVerify(jwt, publicKey, { issuer: "gatehouse" });
      expect(payload.username).toBe("alice");
    } finally {
      await server.stop();
    }
  }, 60_000);
});
