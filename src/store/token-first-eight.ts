// Tiled's `first_eight` of each API token (see schema.ts): written with the
// token, read to list keys and to revoke one the way Tiled clients do.
import { eq, inArray } from "drizzle-orm";
import { tokenFirstEight } from "./schema.ts";
import type { Executor, Store } from "./database.ts";

/** Records first_eight with the statement prepared once (see audit.ts's prepareAuditWriter for why). */
export function prepareRecordFirstEight(store: Store): (tokenId: string, firstEight: string) => void {
  const statement = store.sqlite.prepare("INSERT INTO token_first_eight (token_id, first_eight) VALUES ($tokenId, $firstEight)");
  return (tokenId, firstEight) => statement.run({ tokenId, firstEight });
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
