// Importing auth-o-tron 0.3.7's tokens (its MongoDB store), so that users'
// existing tokens keep working after the switch.
//
// auth-o-tron keeps two collections (authotron/src/store/mongodb_store.rs):
//   tokens: { _id, user_id, token_version, token: { version, token_string, scopes: { service: [scope] } } }
//   users:  { _id, user_id, user_version, user: { version, realm, username, roles, attributes, scopes } }
// where token_string is a random UUID v4, stored in clear. `mongoexport`
// writes either one document per line or (with --jsonArray) one array, in
// relaxed or canonical extended JSON.
//
// Each token is stored like any Gatehouse token: only its SHA-256 (a UUID v4
// has 122 random bits, too many to guess, so a fast hash is right, as for
// Gatehouse's own tokens), with its owner, realm and scopes. The secret is
// never written anywhere else, and never printed.
import type { Scopes } from "../identity/user.ts";
import type { StoreBackend } from "../store/backend.ts";
import { Refusal } from "../refusal.ts";
import { usernameProblem } from "../identity/username.ts";
import { hashOpaqueToken, isImportedToken, newTokenId } from "./format.ts";

export class ImportError extends Error {}

/** The documents of a mongoexport file, in either of its two forms. */
export function parseMongoExport(text: string, what: string): unknown[] {
  const trimmed = text.trim();
  if (trimmed === "") return [];
  if (trimmed.startsWith("[")) {
    try {
      const documents = JSON.parse(trimmed);
      if (Array.isArray(documents)) return documents;
    } catch {
      // reported below
    }
    throw new ImportError(`${what}: not a JSON array of documents (mongoexport --jsonArray)`);
  }
  return trimmed.split("\n").flatMap((line, index) => {
    if (line.trim() === "") return [];
    try {
      return [JSON.parse(line)];
    } catch {
      throw new ImportError(`${what}, line ${index + 1}: not a JSON document (mongoexport writes one per line)`);
    }
  });
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** Extended JSON's `{"$oid": …}` / `{"$numberInt": …}` wrappers, or the plain value. */
function plain(value: unknown): unknown {
  if (!isObject(value)) return value;
  for (const key of ["$oid", "$numberInt", "$numberLong", "$numberDouble"]) if (key in value) return value[key];
  return value;
}

/**
 * The token's scopes as written, for the same checks as a created token's
 * (undefined: unrestricted), or why they cannot be (a string). The object itself is
 * handed on, never copied key by key: copying `{"__proto__": [...]}` into a
 * fresh object sets its prototype and loses the scope (finding 8 of issue 20).
 */
function scopesOf(value: unknown): Scopes | undefined | string {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) return "scopes is not an object";
  const entries = Object.entries(value);
  for (const [service, names] of entries) {
    if (!Array.isArray(names) || !names.every((name) => typeof name === "string")) return `scopes of "${service}" are not a list of strings`;
  }
  // auth-o-tron writes {} for a token without scopes, which it did not restrict: the grant gives it importedTokenScopes.
  return entries.length > 0 ? (value as Scopes) : undefined;
}

/** What an imported token carries: its scopes (null: unrestricted) and expiry (ms since the epoch, null: never). */
export interface ImportedGrant {
  scopes: Scopes | null;
  expiresAt: number | null;
}

export interface ImportOptions {
  /**
   * What a token of this owner with these scopes (undefined: none, auth-o-tron's unrestricted token)
   * gets, checked as `tokens create` checks it: the scopes valid for the
   * config, the expiry capped for a realm that cannot be rechecked.
   * Throws a Refusal for a token that cannot be imported (it is skipped, with why).
   */
  grant(owner: { username: string; realm: string }, scopes: Scopes | undefined): ImportedGrant;
  note: string;
  /** Who is audited as having imported them. */
  operator: string;
  now?: number;
  /** Told after each token written: how many of how many (the CLI shows it on a terminal). */
  progress?: (done: number, total: number) => void;
}

export interface ImportResult {
  imported: { id: string; username: string; realm: string }[];
  /** Already in the store (an import run twice): left as they are. */
  present: number;
  /** Documents that could not be imported, with why (never the secret). */
  skipped: string[];
}

/**
 * Imports in one transaction, on SQLite or PostgreSQL: all of the tokens or,
 * when the store fails part way, none of them.
 */
export async function importAuthOTronTokens(
  store: StoreBackend,
  tokenDocuments: unknown[],
  userDocuments: unknown[],
  options: ImportOptions,
): Promise<ImportResult> {
  const now = options.now ?? Date.now();
  const owners = new Map<string, { username: string; realm: string }>();
  for (const document of userDocuments) {
    if (!isObject(document) || !isObject(document.user)) continue;
    const userId = plain(document.user_id);
    const { username, realm } = document.user;
    if (typeof userId === "string" && typeof username === "string" && typeof realm === "string" && username && realm) {
      owners.set(userId, { username, realm });
    }
  }
  // Checked before the transaction: only store queries are awaited inside one.
  const candidates: ({ secret: string; owner: { username: string; realm: string } } & ImportedGrant)[] = [];
  const skipped: string[] = [];
  tokenDocuments.forEach((document, index) => {
    const where = `token document ${index + 1}${isObject(document) && plain(document._id) ? ` (_id ${String(plain(document._id))})` : ""}`;
    const token = isObject(document) && isObject(document.token) ? document.token : null;
    const secret = token?.token_string;
    if (typeof secret !== "string" || !isImportedToken(secret)) {
      skipped.push(`${where}: token.token_string is not an auth-o-tron token (a UUID v4)`);
      return;
    }
    const userId = plain((document as Record<string, unknown>).user_id);
    const owner = typeof userId === "string" ? owners.get(userId) : undefined;
    if (!owner) {
      skipped.push(`${where}: its user_id ${JSON.stringify(userId)} is not in the users file`);
      return;
    }
    const ownerProblem = usernameProblem(owner.username);
    if (ownerProblem) {
      skipped.push(`${where}: its owner's username is refused: ${ownerProblem}`);
      return;
    }
    const scopes = scopesOf(token!.scopes);
    if (typeof scopes === "string") {
      skipped.push(`${where}: ${scopes}`);
      return;
    }
    try {
      candidates.push({ secret, owner, ...options.grant(owner, scopes) });
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      skipped.push(`${where}: ${error.message}`);
    }
  });
  return store.transaction(async (q) => {
    const result: ImportResult = { imported: [], present: 0, skipped };
    const ownerIds = new Map<string, number>();
    for (const [index, { secret, owner, scopes, expiresAt }] of candidates.entries()) {
      options.progress?.(index, candidates.length);
      const hash = hashOpaqueToken(secret);
      // Also finds one imported earlier in this very transaction (a secret twice in the file).
      if (await q.findTokenByHash(hash)) {
        result.present++;
        continue;
      }
      const id = newTokenId();
      const key = JSON.stringify([owner.username, owner.realm]);
      let ownerId = ownerIds.get(key);
      if (ownerId === undefined) ownerIds.set(key, (ownerId = await q.upsertUser(owner.username, owner.realm, now)));
      await q.insertToken({ id, hash, userId: ownerId, note: options.note, scopes, createdAt: now, expiresAt, parentId: null, sessionId: null });
      await q.recordFirstEight(id, secret.slice(0, 8));
      await q.recordAudit({
        at: now,
        event: "token.imported",
        actorUsername: options.operator,
        actorRealm: null,
        actorTokenId: null,
        tokenId: id,
        targetUsername: owner.username,
        targetRealm: owner.realm,
        address: null,
        reportedAddress: null,
        detail: { from: "auth-o-tron" },
      });
      result.imported.push({ id, ...owner });
    }
    options.progress?.(candidates.length, candidates.length);
    return result;
  });
}
