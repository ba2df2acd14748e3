// The SQL migrations, embedded in the compiled binary (see docs/BUILD-NOTES.md):
// the journal and every .sql file are imported as files, so `bun build
// --compile` carries them, and the folder is derived from the journal's path
// (…/migrations from source, /$bunfs/root/migrations compiled).
// When drizzle-kit adds a migration, add its bare import below; a test
// compares this list with the files in migrations/.
import { dirname } from "node:path";
import journal from "../../migrations/meta/_journal.json" with { type: "file" };
import "../../migrations/0000_initial.sql" with { type: "file" };
import "../../migrations/0001_signing_keys.sql" with { type: "file" };
import "../../migrations/0002_sessions.sql" with { type: "file" };
import "../../migrations/0003_user_profiles.sql" with { type: "file" };
import "../../migrations/0004_ops_regulation_audit.sql" with { type: "file" };
import "../../migrations/0005_token_lineage.sql" with { type: "file" };
import "../../migrations/0006_portal_handles.sql" with { type: "file" };
import "../../migrations/0007_sign_in.sql" with { type: "file" };
import "../../migrations/0008_token_lifecycle.sql" with { type: "file" };

export const migrationsFolder = dirname(dirname(journal as unknown as string));
