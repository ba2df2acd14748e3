// The PostgreSQL store's schema and migrations: the same tables, columns and
// indexes as SQLite's; every migration embedded in the binary; migrations
// applied once even by instances starting together (an advisory lock); and
// the one constraint PostgreSQL adds (one current key, one next key).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SQL } from "bun";
import { getTableConfig as sqliteTableConfig, type SQLiteTable } from "drizzle-orm/sqlite-core";
import { getTableConfig as pgTableConfig, type PgTable } from "drizzle-orm/pg-core";
import * as sqliteSchema from "../src/store/schema.ts";
import * as pgSchema from "../src/store/pg/schema.ts";
import { appliedPgMigrations, migratePg, openPgDatabase } from "../src/store/pg/database.ts";
import { projectRoot } from "./helpers/gatehouse.ts";
import { postgresAvailable, startPostgres, type Postgres } from "./helpers/postgres.ts";

const tableNames = ["users", "tokens", "auditLog", "signingKeys", "sessions", "refreshTokens", "sessionHandles", "tokenFirstEight", "regulationCounters", "userProfiles", "externalAccounts", "signInFlows", "deviceAuthorizations"] as const;

describe("the PostgreSQL schema mirrors SQLite's", () => {
  test("same tables, columns (name, NOT NULL, default, primary key), indexes and foreign keys", () => {
    for (const name of tableNames) {
      const lite = sqliteTableConfig(sqliteSchema[name] as SQLiteTable);
      const pg = pgTableConfig(pgSchema[name] as PgTable);
      expect(pg.name).toBe(lite.name);
      const columns = (config: typeof lite | typeof pg) =>
        config.columns.map((column) => ({ name: column.name, notNull: column.notNull, primary: column.primary, default: column.default ?? null }));
      expect(columns(pg)).toEqual(columns(lite));
      const indexes = (list: { config: { name: string; unique: boolean; columns: unknown[] } }[]) =>
        list
          .map((index) => ({ name: index.config.name, unique: index.config.unique, columns: index.config.columns.map((column) => (column as { name: string }).name) }))
          .filter((index) => index.name !== "signing_keys_one_current_one_next")
          .sort((a, b) => a.name.localeCompare(b.name));
      expect(indexes(pg.indexes as never)).toEqual(indexes(lite.indexes as never));
      const keys = (list: { reference(): { columns: { name: string }[]; foreignTable: unknown; foreignColumns: { name: string }[] }; onDelete?: string }[]) =>
        list.map((fk) => ({ columns: fk.reference().columns.map((column) => column.name), references: fk.reference().foreignColumns.map((column) => column.name), onDelete: fk.onDelete }));
      expect(keys(pg.foreignKeys as never)).toEqual(keys(lite.foreignKeys as never));
      expect(pg.primaryKeys.map((key) => key.columns.map((column) => column.name))).toEqual(
        lite.primaryKeys.map((key) => key.columns.map((column) => column.name)),
      );
    }
    expect(([...pgSchema.TABLES_IN_ORDER] as string[]).toSorted()).toEqual(tableNames.map((name) => pgTableConfig(pgSchema[name] as PgTable).name).toSorted());
  });
});

describe("PostgreSQL migrations embedded in the binary", () => {
  const folder = join(projectRoot, "migrations-pg");
  const sqlFiles = readdirSync(folder).filter((name) => name.endsWith(".sql")).sort();

  test("src/store/pg/migrations.ts imports every .sql file of migrations-pg/ (a forgotten one would be missing from the binary)", () => {
    const source = readFileSync(join(projectRoot, "src/store/pg/migrations.ts"), "utf8");
    const imported = [...source.matchAll(/^import "\.\.\/\.\.\/\.\.\/migrations-pg\/([^"]+\.sql)" with \{ type: "file" \};$/gm)].map((match) => match[1]);
    expect(imported.sort()).toEqual(sqlFiles);
    expect(source).toContain('import journal from "../../../migrations-pg/meta/_journal.json" with { type: "file" };');
  });

  test("drizzle's journal lists exactly the .sql files, for the postgresql dialect", () => {
    const journal = JSON.parse(readFileSync(join(folder, "meta/_journal.json"), "utf8")) as { dialect: string; entries: { tag: string }[] };
    expect(journal.dialect).toBe("postgresql");
    expect(journal.entries.map((entry) => `${entry.tag}.sql`).sort()).toEqual(sqlFiles);
  });

  test("the Docker build context admits migrations-pg/", () => {
    expect(readFileSync(join(projectRoot, ".dockerignore"), "utf8").split("\n")).toContain("!migrations-pg/");
  });
});

describe.skipIf(!postgresAvailable)("migratePg against a real PostgreSQL", () => {
  let pg: Postgres;
  beforeAll(async () => {
    pg = await startPostgres("gatehouse_schema");
  }, 60_000);
  afterAll(async () => {
    await pg?.destroy();
  });

  test("two instances migrating at once: the migrations are applied once, both then see them all", async () => {
    const url = pg.createDatabase("twice");
    const results = await Promise.all([migratePg(url), migratePg(url), migratePg({ url, pool_size: 3 })]);
    const total = readdirSync(join(projectRoot, "migrations-pg")).filter((name) => name.endsWith(".sql")).length;
    expect(results.map((result) => result.total)).toEqual([total, total, total]);
    expect(results.map((result) => result.applied).reduce((a, b) => a + b, 0)).toBe(total);
    expect(pg.psql("SELECT count(*) FROM drizzle.__drizzle_migrations", "twice")).toBe(String(total));
    expect(await migratePg(url)).toEqual({ applied: 0, total });
    const sql = new SQL({ url, max: 1 });
    try {
      expect((await appliedPgMigrations(sql)).length).toBe(total);
    } finally {
      await sql.close();
    }
  });

  test("ids and times are int8: an upsert uses up an identity value each time, and times are milliseconds", async () => {
    const url = pg.createDatabase("types8");
    await migratePg(url);
    const narrow = pg.psql(
      `SELECT table_name || '.' || column_name FROM information_schema.columns
        WHERE table_schema = 'public' AND data_type = 'integer' ORDER BY 1`,
      "types8",
    );
    // Only counts, never ids or times: a polling interval in seconds, failures in a window.
    expect(narrow).toBe("device_authorizations.interval\nregulation_counters.failures");
  });

  test("the migration lock is released: nothing is left holding it", async () => {
    const url = pg.createDatabase("unlocked");
    await migratePg(url);
    expect(pg.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'", "unlocked")).toBe("0");
  });

  test("a database that refuses (a wrong one) fails with the reason, the password never in it", async () => {
    const url = `postgres://postgres:topsecret-pw@127.0.0.1:${pg.port}/does_not_exist`;
    const error = await migratePg(url).then(
      () => null,
      (caught: Error) => caught,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).not.toContain("topsecret-pw");
    expect(error!.message.length).toBeGreaterThan(0);
  });

  test("a second current (or next) signing key cannot be committed; any number of previous and retired can", async () => {
    const url = pg.createDatabase("keys");
    await migratePg(url);
    const database = openPgDatabase(url);
    try {
      const key = (kid: string, state: string) => ({ kid, alg: "ES256", state, publicJwk: "{}", privateKeySealed: "x", createdAt: 1 });
      await database.db.insert(pgSchema.signingKeys).values([key("a", "current"), key("b", "next"), key("c", "previous"), key("d", "previous"), key("e", "retired"), key("f", "retired")]);
      const attempt = (kid: string, state: string) =>
        database.db
          .insert(pgSchema.signingKeys)
          .values(key(kid, state))
          .then(
            () => "committed",
            (error: { cause?: { errno?: string } }) => `refused ${error.cause?.errno}`,
          );
      expect(await attempt("g", "current")).toBe("refused 23505"); // unique_violation
      expect(await attempt("h", "next")).toBe("refused 23505");
      expect(pg.psql("SELECT count(*) FROM signing_keys", "keys")).toBe("6");
    } finally {
      await database.close();
    }
  });

  test("times beyond 2^31 and JSON columns round-trip through drizzle as numbers and values; JSON null stays SQL NULL", async () => {
    const url = pg.createDatabase("types");
    await migratePg(url);
    const database = openPgDatabase(url);
    try {
      const at = 1_796_000_000_000;
      const [user] = await database.db.insert(pgSchema.users).values({ username: "u", realm: "r", firstSeen: at, lastSeen: at }).returning();
      expect(user).toEqual({ id: 1, username: "u", realm: "r", firstSeen: at, lastSeen: at });
      await database.db.insert(pgSchema.tokens).values([
        { id: "tok_a", hash: "h1", userId: 1, scopes: { svc: ["read"] }, createdAt: at },
        { id: "tok_b", hash: "h2", userId: 1, scopes: null, createdAt: at },
      ]);
      const rows = await database.db.select({ id: pgSchema.tokens.id, scopes: pgSchema.tokens.scopes, createdAt: pgSchema.tokens.createdAt }).from(pgSchema.tokens).orderBy(pgSchema.tokens.id);
      expect(rows).toEqual([
        { id: "tok_a", scopes: { svc: ["read"] }, createdAt: at },
        { id: "tok_b", scopes: null, createdAt: at },
      ]);
      expect(pg.psql("SELECT coalesce(scopes, 'SQL NULL') FROM tokens ORDER BY id", "types")).toBe('{"svc":["read"]}\nSQL NULL');
    } finally {
      await database.close();
    }
  });
});
