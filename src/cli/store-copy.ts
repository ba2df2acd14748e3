// `gatehouse store copy --from FILE.db [--to postgres://…] [--force]`: moves a
// SQLite store into PostgreSQL (docs/postgres-design.md § 6), so that several
// instances can share it.
//
// The SQLite file is opened read-only and read in one transaction (a
// consistent snapshot, even while a server still writes to it); it must have
// every migration of this version applied. The target is migrated, then one
// transaction locks every table, checks they are all empty (--force: empties
// them), copies each table in foreign-key order, 1000 rows a statement, ids
// and values exactly as stored (hashes, JSON text, sealed private keys), and
// moves each identity sequence past the largest id copied. After the commit,
// each table's count is compared with the source's.
//
// The target URL (it holds a password) is --to, or the config's store.url
// (store.url_file, GATEHOUSE_STORE__URL: not visible in `ps`); it is shown
// only with its password hidden.
import { Database } from "bun:sqlite";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SQL } from "bun";
import { migrationsFolder } from "../store/migrations.ts";
import { MAINTENANCE_SESSION, migratePg, pgClientOptions, pgError, type PgSettings } from "../store/pg/database.ts";
import { TABLES_IN_ORDER } from "../store/pg/schema.ts";

/** Rows a statement: 1000 rows of at most 15 columns stay far under PostgreSQL's 65,535 parameters. */
const BATCH = 1000;

/** The tables with an identity column, and that column. */
const IDENTITIES: Partial<Record<(typeof TABLES_IN_ORDER)[number], string>> = { users: "id", refresh_tokens: "id", audit_log: "id" };

/** A refusal to copy, with the reason for the operator (exit code 1). */
export class CopyRefused extends Error {}

export interface CopyResult {
  /** Rows copied, by table, in the order copied. */
  counts: Record<string, number>;
  /** Migrations the target had applied by `migratePg` (0 when it was up to date). */
  migrated: number;
}

/** Copies every row of the SQLite store at `from` into the PostgreSQL store at `to`. */
export async function copyStore(
  from: string,
  to: PgSettings,
  options: { force?: boolean; log?: (line: string) => void; progress?: (table: string, rows: number) => void } = {},
): Promise<CopyResult> {
  const log = options.log ?? (() => {});
  const source = openSource(from);
  try {
    const { applied: migrated } = await migratePg(to);
    const target = new SQL(pgClientOptions(to, { max: 1, connection: MAINTENANCE_SESSION("gatehouse store copy") }));
    try {
      const counts: Record<string, number> = {};
      source.exec("BEGIN"); // one snapshot of the source for the whole copy
      try {
        await target.begin(async (tx) => {
          // Nobody else writes (or reads half-copied rows) until the commit.
          await tx.unsafe(`LOCK TABLE ${TABLES_IN_ORDER.join(", ")} IN ACCESS EXCLUSIVE MODE`);
          const occupied: string[] = [];
          for (const table of TABLES_IN_ORDER) {
            const [{ present }] = await tx.unsafe(`SELECT EXISTS (SELECT 1 FROM ${table}) AS present`);
            if (present) occupied.push(table);
          }
          if (occupied.length > 0) {
            if (!options.force) {
              throw new CopyRefused(`the target already holds rows (in ${occupied.join(", ")}); give --force to delete them first`);
            }
            await tx.unsafe(`TRUNCATE ${TABLES_IN_ORDER.join(", ")} RESTART IDENTITY`);
            log(`emptied the target's tables (--force): ${occupied.join(", ")}`);
          }
          for (const table of TABLES_IN_ORDER) {
            counts[table] = await copyTable(source, tx, table, options.progress);
          }
          for (const [table, column] of Object.entries(IDENTITIES)) {
            // The next id after the largest copied (1 for an empty table): a new row never collides with a copied one.
            await tx.unsafe(
              `SELECT setval(pg_get_serial_sequence('${table}', '${column}'), coalesce((SELECT max(${column}) FROM ${table}), 0) + 1, false)`,
            );
          }
        });
      } finally {
        source.exec("ROLLBACK"); // read-only: nothing to keep
      }
      // Committed: each table now holds exactly what was read.
      for (const table of TABLES_IN_ORDER) {
        const [{ count }] = await target.unsafe(`SELECT count(*)::int AS count FROM ${table}`);
        if (count !== counts[table]) throw new Error(`after the copy, ${table} holds ${count} rows where ${counts[table]} were copied`);
      }
      return { counts, migrated };
    } finally {
      await target.close();
    }
  } catch (error) {
    throw error instanceof CopyRefused ? error : pgError(error, to);
  } finally {
    source.close();
  }
}

/** The SQLite file, read-only, with exactly this version's migrations applied. */
function openSource(path: string): Database {
  if (!existsSync(path)) throw new CopyRefused(`${path} does not exist`);
  let database: Database;
  try {
    database = new Database(path, { readonly: true, strict: true });
    database.exec("PRAGMA busy_timeout = 5000");
  } catch (error) {
    throw new CopyRefused(`${path} cannot be opened: ${(error as Error).message}`);
  }
  try {
    const expected = (JSON.parse(readFileSync(join(migrationsFolder, "meta/_journal.json"), "utf8")) as { entries: unknown[] }).entries.length;
    let applied = 0;
    try {
      applied = (database.query("SELECT count(*) AS n FROM __drizzle_migrations").get() as { n: number }).n;
    } catch {
      throw new CopyRefused(`${path} is not a Gatehouse store (no migrations table)`);
    }
    if (applied < expected) {
      throw new CopyRefused(`${path} has ${applied} of this version's ${expected} migrations applied; run gatehouse migrate on it first`);
    }
    if (applied > expected) {
      throw new CopyRefused(`${path} has ${applied} migrations applied, more than this version's ${expected}: it was made by a newer Gatehouse; copy it with that version`);
    }
    return database;
  } catch (error) {
    database.close();
    throw error;
  }
}

/** Copies one table in batches of BATCH rows, values as stored; answers the rows copied. */
async function copyTable(source: Database, tx: SQL, table: string, progress?: (table: string, rows: number) => void): Promise<number> {
  const select = source.query(`SELECT * FROM ${table} ORDER BY rowid LIMIT ?1 OFFSET ?2`);
  let copied = 0;
  for (;;) {
    const rows = select.all(BATCH, copied) as Record<string, unknown>[];
    if (rows.length === 0) return copied;
    await tx`INSERT INTO ${tx(table)} ${tx(rows)}`;
    copied += rows.length;
    progress?.(table, copied);
    if (rows.length < BATCH) return copied;
  }
}
