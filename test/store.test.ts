// The SQLite store: settings, migrations (and that every one is embedded),
// and the API token format.
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { openStore } from "../src/store/database.ts";
import { generateOpaqueToken, hashOpaqueToken, newTokenId, parseOpaqueToken, randomBase62 } from "../src/tokens/format.ts";
import { normaliseScopes, scopesBeyond } from "../src/tokens/scopes.ts";
import { projectRoot, temporaryDirectory } from "./helpers/gatehouse.ts";

describe("the database", () => {
  test("opens in WAL mode, synchronous=NORMAL, with a busy timeout and foreign keys, creating its folder", () => {
    const path = join(temporaryDirectory("gatehouse-store-"), "nested/folder/gatehouse.db");
    const store = openStore(path);
    try {
      const pragma = (name: string) => Object.values(store.sqlite.query(`PRAGMA ${name}`).get() as object)[0];
      expect(pragma("journal_mode")).toBe("wal");
      expect(pragma("synchronous")).toBe(1);
      expect(pragma("busy_timeout")).toBe(5000);
      expect(pragma("foreign_keys")).toBe(1);
      const tables = store.sqlite.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all();
      expect(tables.map((row: any) => row.name)).toEqual(expect.arrayContaining(["audit_log", "tokens", "users"]));
    } finally {
      store.close();
    }
  });

  test("migrations run once: opening again applies nothing new", () => {
    const path = join(temporaryDirectory("gatehouse-store-"), "gatehouse.db");
    openStore(path).close();
    const count = () => {
      const database = new Database(path);
      try {
        return (database.query("SELECT count(*) AS n FROM __drizzle_migrations").get() as { n: number }).n;
      } finally {
        database.close();
      }
    };
    const applied = count();
    expect(applied).toBeGreaterThan(0);
    openStore(path).close();
    expect(count()).toBe(applied);
  });

  test("several processes starting on a new database at once all migrate it without an error", async () => {
    const path = join(temporaryDirectory("gatehouse-store-"), "gatehouse.db");
    const script = `import { openStore } from ${JSON.stringify(join(projectRoot, "src/store/database.ts"))}; openStore(${JSON.stringify(path)}).close();`;
    const children = Array.from({ length: 4 }, () =>
      Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" }),
    );
    const codes = await Promise.all(children.map((child) => child.exited));
    const errors = await Promise.all(children.map((child) => new Response(child.stderr).text()));
    expect({ codes, errors: errors.filter(Boolean) }).toEqual({ codes: [0, 0, 0, 0], errors: [] });
  });

  test("deleting a user deletes their tokens (foreign key, on delete cascade)", () => {
    const store = openStore(join(temporaryDirectory("gatehouse-store-"), "gatehouse.db"));
    try {
      store.sqlite.exec("INSERT INTO users (username, realm, first_seen, last_seen) VALUES ('u', 'r', 0, 0)");
      store.sqlite.exec("INSERT INTO tokens (id, hash, user_id, created_at) VALUES ('tok_a', 'h', 1, 0)");
      store.sqlite.exec("DELETE FROM users");
      expect(store.sqlite.query("SELECT count(*) AS n FROM tokens").get()).toEqual({ n: 0 });
      expect(() => store.sqlite.exec("INSERT INTO tokens (id, hash, user_id, created_at) VALUES ('tok_b', 'h2', 42, 0)")).toThrow();
    } finally {
      store.close();
    }
  });
});

describe("migrations embedded in the binary", () => {
  const folder = join(projectRoot, "migrations");
  const sqlFiles = readdirSync(folder).filter((name) => name.endsWith(".sql")).sort();

  test("src/store/migrations.ts imports every .sql file of migrations/ (a forgotten one would be missing from the binary)", () => {
    const source = readFileSync(join(projectRoot, "src/store/migrations.ts"), "utf8");
    const imported = [...source.matchAll(/^import "\.\.\/\.\.\/migrations\/([^"]+\.sql)" with \{ type: "file" \};$/gm)].map((match) => match[1]);
    expect(imported.sort()).toEqual(sqlFiles);
    expect(source).toContain('import journal from "../../migrations/meta/_journal.json" with { type: "file" };');
  });

  test("drizzle's journal lists exactly the .sql files", () => {
    const journal = JSON.parse(readFileSync(join(folder, "meta/_journal.json"), "utf8")) as { entries: { tag: string }[] };
    expect(journal.entries.map((entry) => `${entry.tag}.sql`).sort()).toEqual(sqlFiles);
  });
});

describe("the API token format", () => {
  test("prefix + 30 random base62 + 6 base62 of checksum, 40 characters, and it parses", () => {
    for (let i = 0; i < 1000; i++) {
      const token = generateOpaqueToken("gth_");
      expect(token).toMatch(/^gth_[0-9A-Za-z]{36}$/);
      expect(parseOpaqueToken("gth_", token)).toBe(true);
    }
    const custom = generateOpaqueToken("acme_");
    expect(custom).toHaveLength(41);
    expect(parseOpaqueToken("acme_", custom)).toBe(true);
    expect(parseOpaqueToken("gth_", custom)).toBe(false);
  });

  test("any single changed character, a missing or extra one, or another prefix is refused", () => {
    const token = generateOpaqueToken("gth_");
    for (let at = 4; at < token.length; at++) {
      for (const replacement of ["0", "z", "Q"]) {
        if (token[at] === replacement) continue;
        expect(parseOpaqueToken("gth_", token.slice(0, at) + replacement + token.slice(at + 1))).toBe(false);
      }
    }
    expect(parseOpaqueToken("gth_", token.slice(0, -1))).toBe(false);
    expect(parseOpaqueToken("gth_", `${token}a`)).toBe(false);
    expect(parseOpaqueToken("gth_", `ghp_${token.slice(4)}`)).toBe(false);
    expect(parseOpaqueToken("gth_", `${token.slice(0, 20)}-${token.slice(21)}`)).toBe(false);
    expect(parseOpaqueToken("gth_", "")).toBe(false);
  });

  test("characters are drawn uniformly (rejection sampling: no modulo bias)", () => {
    const counts = new Map<string, number>();
    const draws = 62 * 4000;
    for (const char of randomBase62(draws)) counts.set(char, (counts.get(char) ?? 0) + 1);
    expect(counts.size).toBe(62);
    // With modulo bias (byte % 62), the first 8 characters would come out about 25 % more often.
    for (const count of counts.values()) expect(Math.abs(count - 4000)).toBeLessThan(400);
  });

  test("the store keeps the SHA-256 of the whole token; ids are public and distinct", () => {
    const token = generateOpaqueToken("gth_");
    expect(hashOpaqueToken(token)).toBe(createHash("sha256").update(token).digest("hex"));
    const ids = new Set(Array.from({ length: 1000 }, () => newTokenId()));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^tok_[0-9A-Za-z]{12}$/);
  });
});

describe("scopes", () => {
  const services = [
    { name: "ecflow", scopes: ["read", "write"] },
    { name: "tiled", scopes: ["read"] },
  ];

  test("are normalised to config order without duplicates", () => {
    expect(normaliseScopes({ ecflow: ["write", "read", "write"] }, services)).toEqual({ ecflow: ["read", "write"] });
    expect(normaliseScopes({}, services)).toEqual({});
  });

  test("what a request holds beyond a limit is named service:scope", () => {
    expect(scopesBeyond({ ecflow: ["read", "write"], tiled: ["read"] }, { ecflow: ["read"] })).toEqual(["ecflow:write", "tiled:read"]);
    expect(scopesBeyond({ ecflow: ["read"] }, { ecflow: ["read", "write"] })).toEqual([]);
  });
});
