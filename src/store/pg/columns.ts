// The PostgreSQL column types every family's pg-schema.ts is written with (the
// reasons for each: ./schema.ts's dialect choices).
import { bigint, customType } from "drizzle-orm/pg-core";

/** Milliseconds since the epoch. */
export const time = (name: string) => bigint(name, { mode: "number" });

/**
 * Row ids: int8, as SQLite's rowids are 64-bit. An identity value is used up
 * by every INSERT … ON CONFLICT, even one that updates instead (upsertUser at
 * each login and token creation): int4 user ids would run out within a year
 * at 100 logins a second.
 */
export const id = (name: string) => bigint(name, { mode: "number" });

/** JSON kept in a text column (see ./schema.ts): drizzle (de)serialises it, as SQLite's `text(…, { mode: "json" })` does; null stays SQL NULL. */
export const jsonText = <T>(name: string) =>
  customType<{ data: T; driverData: string }>({
    dataType: () => "text",
    toDriver: (value) => JSON.stringify(value),
    fromDriver: (value) => JSON.parse(value) as T,
  })(name);
