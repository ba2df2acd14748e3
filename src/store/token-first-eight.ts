// Tiled's `first_eight` of each API token (see schema.ts): written with the
// token, read to list keys and to revoke one the way Tiled clients do.
import { eq, inArray } from "drizzle-orm";
import { tokenFirstEight } from "./schema.ts";
import type { Executor } from "./database.ts";

export function recordFirstEight(db: Executor, tokenId: string, firstEight: string): void {
  db.insert(tokenFirstEight).values({ tokenId, firstEight }).run();
}

/** token id → first_eight, for the tokens that have one. */
export function firstEightOf(db: Executor, tokenIds: string[]): Map<string, string> {
  if (tokenIds.length === 0) return new Map();
  const rows = db.select().from(tokenFirstEight).where(inArray(tokenFirstEight.tokenId, tokenIds)).all();
  return new Map(rows.map((row) => [row.tokenId, row.firstEight]));
}

/** The ids of the tokens whose secret starts with these 8 characters (any owner: the caller filters). */
export function tokensWithFirstEight(db: Executor, firstEight: string): string[] {
  return db
    .select({ tokenId: tokenFirstEight.tokenId })
    .from(tokenFirstEight)
    .where(eq(tokenFirstEight.firstEight, firstEight))
    .all()
    .map((row) => row.tokenId);
}
