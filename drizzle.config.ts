// drizzle-kit: `bun x drizzle-kit generate` writes a new migration into
// migrations/ from src/store/schema.ts (which gathers every family's
// src/store/<family>/sqlite-schema.ts). Add its import to
// src/store/migrations.ts afterwards, so the compiled binary embeds it.
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./src/store/schema.ts",
  out: "./migrations",
});
