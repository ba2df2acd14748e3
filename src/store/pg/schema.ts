// The PostgreSQL store's tables: every family's ../<family>/pg-schema.ts,
// gathered for drizzle-kit (drizzle.pg.config.ts) and the drizzle handle
// (./database.ts). Each is the same tables, columns, indexes and constraints
// as the SQLite store's, side by side with them (../<family>/sqlite-schema.ts).
// `npx drizzle-kit generate --config drizzle.pg.config.ts` turns changes in
// them into a new migration under migrations-pg/ (then add its import to
// ./migrations.ts). Change both schemas together.
//
// Dialect choices (docs/postgres-design.md § 4; the column types: ./columns.ts):
// - times are milliseconds since the epoch in `bigint` read as numbers
//   (int4 overflows);
// - JSON stays in `text` columns, as on SQLite: drizzle's jsonb over Bun's
//   client would store a JSON *string*, and nothing queries inside them;
// - ids are int8 identities *by default* (not *always*): `gatehouse store copy`
//   inserts the ids it copies, then moves each sequence past them;
// - one more constraint than SQLite: at most one `current` and one `next`
//   signing key (a partial unique index), so two instances racing on a
//   rotation cannot both commit one.
export * from "../users/pg-schema.ts";
export * from "../tokens/pg-schema.ts";
export * from "../sessions/pg-schema.ts";
export * from "../signing-keys/pg-schema.ts";
export * from "../regulation/pg-schema.ts";
export * from "../audit/pg-schema.ts";
export * from "../sign-in/pg-schema.ts";
export * from "../device/pg-schema.ts";

/** Every table, in foreign-key order (parents first): the order `gatehouse store copy` fills them in. */
export const TABLES_IN_ORDER = [
  "users",
  "user_profiles",
  "tokens",
  "token_first_eight",
  "sessions",
  "refresh_tokens",
  "session_handles",
  "signing_keys",
  "regulation_counters",
  "audit_log",
  "external_accounts",
  "sign_in_flows",
  "device_authorizations",
] as const;
