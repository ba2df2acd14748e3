// `gatehouse store copy|backup`: moving a SQLite store into PostgreSQL
// (./store-copy.ts), and a consistent copy of a SQLite store, made while
// servers run.
import { Database } from "bun:sqlite";
import { existsSync, rmSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { redactUrl, storeUrlProblems } from "../store/pg/url.ts";
import { pgSettingsOf, type PgSettings } from "../store/pg/database.ts";
import { writeSecretFile } from "../secret-files.ts";
import { configOrigin, loadExistingConfig, progress, storeConfig } from "./common.ts";
import { CONFIG_FLAG, defineCommand, usageError } from "./help.ts";
import { copyStore } from "./store-copy.ts";

export const storeCommand = defineCommand(
  {
    name: "store",
    summary: "back up a SQLite store, or copy one into PostgreSQL",
    flags: [CONFIG_FLAG],
    subcommands: [
      {
        name: "backup",
        args: "FILE",
        operands: ["FILE"],
        summary: "a consistent copy of the config's SQLite store in FILE (mode 0600), made while servers run",
        description:
          "SQLite's VACUUM INTO: one read transaction, so the copy is the store as it was at one moment, whatever\n" +
          "servers write meanwhile (they are not stopped). FILE must not exist. Restore: stop the servers, put FILE\n" +
          "in store.path's place (and remove any -wal and -shm files beside it), start them. PostgreSQL: pg_dump.",
      },
      {
        name: "copy",
        args: "--from FILE.db [--to postgres://…] [--force]",
        summary: "copy a SQLite store into PostgreSQL (every row, ids kept)",
        description: "Without --to, the config's store.url. The target's tables must be empty (--force: empty them first).",
        flags: [
          { name: "from", type: "string", value: "FILE.db", description: "the SQLite store to copy (read-only, in one transaction)" },
          { name: "to", type: "string", value: "postgres://USER:PASSWORD@HOST/DATABASE", description: "the PostgreSQL store (else the config's store.url)" },
          { name: "force", type: "boolean", description: "empty the target's tables first" },
        ],
      },
    ],
  },
  async ({ values, positionals }) => {
    if (positionals[0] === "backup") return backup(positionals[1]!, values.config);
    if (!values.from) return usageError("store", "copy needs --from FILE.db");
    return copy(values.from, values);
  },
);

async function backup(file: string, configPath: string | undefined): Promise<number> {
  const target = resolve(file);
  if (existsSync(target)) {
    console.error(`store backup: ${target} already exists; a backup never overwrites a file (give a new name)`);
    return 1;
  }
  const config = await storeConfig(configPath, "store backup");
  if (!config) return 2;
  if (config.store.type !== "sqlite") {
    return usageError("store", "backup copies a SQLite store; this store is PostgreSQL: use pg_dump (docs/operations.md#backups)");
  }
  const source = resolve(config.store.path);
  if (!existsSync(source)) {
    console.error(`store backup: ${source} does not exist: nothing to back up`);
    return 1;
  }
  // Read-only: the backup never changes the store, nor makes one.
  const database = new Database(source, { readonly: true });
  try {
    database.exec("PRAGMA busy_timeout = 10000");
    // The file made first, empty and owner-only: it holds token hashes and sealed keys. VACUUM INTO fills an empty file.
    writeSecretFile(target, "", "wx");
    database.query("VACUUM INTO ?1").run(target);
  } catch (error) {
    rmSync(target, { force: true });
    console.error(`store backup: ${source} could not be copied: ${(error as Error).message}`);
    return 1;
  } finally {
    database.close();
  }
  const copied = new Database(target, { readonly: true });
  try {
    const check = (copied.query("PRAGMA quick_check").get() as { quick_check: string }).quick_check;
    if (check !== "ok") {
      console.error(`store backup: the copy in ${target} fails SQLite's check: ${check}`);
      return 1;
    }
  } finally {
    copied.close();
  }
  console.log(`backed up ${source} to ${target} (${statSync(target).size} bytes, consistent as of one moment)`);
  return 0;
}

async function copy(from: string, values: { to?: string; force?: boolean; config?: string }): Promise<number> {
  let target: PgSettings;
  if (values.to !== undefined) {
    const problems = storeUrlProblems(values.to, "--to");
    if (problems.length > 0) return usageError("store", problems.join("; "));
    target = { url: values.to, pool_size: 1 };
  } else {
    const loaded = await loadExistingConfig(values.config);
    const { config } = loaded;
    if (config.store.type !== "postgres" || !config.store.url) {
      return usageError("store", `copy needs --to postgres://…, or a config with store.type: postgres and store.url (${loaded.source} has neither)`);
    }
    console.error(`store copy: config ${configOrigin(values.config, loaded)}`);
    target = pgSettingsOf(config.store);
  }
  const where = redactUrl(target.url);
  console.log(`copying ${from} into ${where}`);
  const shown = progress("store copy:");
  let table = "";
  try {
    const { counts, migrated } = await copyStore(from, target, {
      force: values.force,
      log: (line) => console.log(line),
      // Each table shown as it starts, then at most ten times a second.
      progress: (copying, rows) => {
        shown.update(`${copying}: ${rows} rows`, copying !== table);
        table = copying;
      },
    });
    shown.end();
    if (migrated > 0) console.log(`(the target's schema was created or updated first: ${migrated} migration(s))`);
    const width = Math.max(...Object.keys(counts).map((table) => table.length));
    for (const [table, count] of Object.entries(counts)) console.log(`  ${table.padEnd(width)}  ${count}`);
    const total = Object.values(counts).reduce((sum, count) => sum + count, 0);
    console.log(`copied ${total} rows; the target's count matches the source's in every table`);
    console.log(
      "Signing keys were copied sealed with the master key: give the PostgreSQL deployment the same master key " +
        "(keys.master_key_file or GATEHOUSE_MASTER_KEY), or its managed keys cannot sign.",
    );
    return 0;
  } catch (error) {
    shown.end();
    console.error(`store copy: ${(error as Error).message}`);
    return 1;
  }
}
