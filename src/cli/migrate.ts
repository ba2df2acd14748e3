// `gatehouse migrate`: brings the store's schema up to date (the server also
// does it at start-up) and says what it did. SQLite or PostgreSQL, as
// store.type says; on PostgreSQL under the advisory lock (store/pg/database.ts),
// so it may run while instances start.
import { appliedMigrations, migrateStore, openStore, type Store } from "../store/database.ts";
import { migratePg, pgSettingsOf } from "../store/pg/database.ts";
import { redactUrl } from "../store/pg/url.ts";
import { storeConfig } from "./common.ts";
import { CONFIG_FLAG, defineCommand, usageError } from "./help.ts";

export const migrateCommand = defineCommand(
  {
    name: "migrate",
    summary: "bring the store's schema up to date (serve also does it)",
    description: "SQLite or PostgreSQL, as store.type says; on PostgreSQL under an advisory lock, so it may run while instances start.",
    flags: [CONFIG_FLAG],
  },
  async ({ values, positionals }) => {
    const config = await storeConfig(values.config, "migrate");
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
  },
);

function countApplied(store: Store): number {
  try {
    return appliedMigrations(store).length;
  } catch {
    return 0; // a new database: not even drizzle's bookkeeping table yet
  }
}
