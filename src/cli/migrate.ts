// `gatehouse migrate`: brings the store's schema up to date (the server also
// does it at start-up) and says what it did. SQLite or PostgreSQL, as
// store.type says; on PostgreSQL under the advisory lock (store/pg/database.ts),
// so it may run while instances start.
import { appliedMigrations, migrateStore, openStore, type Store } from "../store/database.ts";
import { migratePg, pgSettingsOf } from "../store/pg/database.ts";
import { redactUrl } from "../store/pg/url.ts";
import { parseCommand, storeConfig, type LoadConfig } from "./common.ts";

export async function migrateCommand(args: string[], loadConfig: LoadConfig): Promise<number> {
  const parsed = parseCommand(args, { config: { type: "string", short: "c" } }, "usage: gatehouse migrate [--config FILE]");
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  const config = await storeConfig(values.config, loadConfig, "migrate");
  if (!config) return 2;
  if (config.store.type === "postgres") {
    const settings = pgSettingsOf(config.store);
    const { applied, total } = await migratePg(settings);
    console.log(`${redactUrl(settings.url)}: ${applied} migration(s) applied, ${total} in all; the schema is up to date`);
    return 0;
  }
  const store = openStore(config.store.path, { migrate: false });
  try {
    const before = countApplied(store);
    migrateStore(store.db);
    const after = countApplied(store);
    console.log(`${config.store.path}: ${after - before} migration(s) applied, ${after} in all; the schema is up to date`);
    return 0;
  } finally {
    store.close();
  }
}

function countApplied(store: Store): number {
  try {
    return appliedMigrations(store).length;
  } catch {
    return 0; // a new database: not even drizzle's bookkeeping table yet
  }
}
