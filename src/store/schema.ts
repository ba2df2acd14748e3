// The store's tables, as drizzle sees them: every family's
// ./<family>/sqlite-schema.ts (each beside its PostgreSQL twin, pg-schema.ts),
// gathered for drizzle-kit (drizzle.config.ts) and the drizzle handle
// (./database.ts). `bun x drizzle-kit generate` turns changes in them into a
// new SQL migration under migrations/ (then add its import to
// ./migrations.ts). Times are integers: milliseconds since the epoch.
export * from "./users/sqlite-schema.ts";
export * from "./tokens/sqlite-schema.ts";
export * from "./sessions/sqlite-schema.ts";
export * from "./signing-keys/sqlite-schema.ts";
export * from "./regulation/sqlite-schema.ts";
export * from "./audit/sqlite-schema.ts";
export * from "./sign-in/sqlite-schema.ts";
export * from "./device/sqlite-schema.ts";
