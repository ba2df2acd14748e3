// drizzle-kit for the PostgreSQL store: `npx drizzle-kit generate --config
// drizzle.pg.config.ts` writes a new migration into migrations-pg/ from
// src/store/pg/schema.ts (which gathers every family's
// src/store/<family>/pg-schema.ts). Add its import to src/store/pg/migrations.ts
// afterwards, so the compiled binary embeds it (a test compares the two).
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./src/store/pg/schema.ts",
  out: "./migrations-pg",
});
