// The PostgreSQL store's SQL migrations, embedded in the compiled binary
// exactly as the SQLite ones are (../migrations.ts, docs/BUILD-NOTES.md): the
// journal and every .sql file imported as files, the folder derived from the
// journal's path (…/migrations-pg from source, /$bunfs/root/migrations-pg
// compiled). When drizzle-kit adds a migration (drizzle.pg.config.ts), add its
// bare import below; a test compares this list with the files in migrations-pg/.
import { dirname } from "node:path";
import journal from "../../../migrations-pg/meta/_journal.json" with { type: "file" };
import "../../../migrations-pg/0000_initial.sql" with { type: "file" };
import "../../../migrations-pg/0001_portal_handles.sql" with { type: "file" };
import "../../../migrations-pg/0002_sign_in.sql" with { type: "file" };
import "../../../migrations-pg/0003_token_lifecycle.sql" with { type: "file" };

export const pgMigrationsFolder = dirname(dirname(journal as unknown as string));
