// The PostgreSQL store's tables: the same tables, columns, indexes and
// constraints as the SQLite store's (../schema.ts), in drizzle's pg-core.
// `npx drizzle-kit generate --config drizzle.pg.config.ts` turns changes here
// into a new migration under migrations-pg/ (then add its import to
// ./migrations.ts). Change both schemas together.
//
// Dialect choices (docs/postgres-design.md § 4):
// - times are milliseconds since the epoch in `bigint` read as numbers
//   (int4 overflows);
// - JSON stays in `text` columns, as on SQLite: drizzle's jsonb over Bun's
//   client would store a JSON *string*, and nothing queries inside them;
// - ids are int8 identities *by default* (not *always*): `gatehouse store copy`
//   inserts the ids it copies, then moves each sequence past them;
// - one more constraint than SQLite: at most one `current` and one `next`
//   signing key (a partial unique index), so two instances racing on a
//   rotation cannot both commit one.
import { sql } from "drizzle-orm";
import { bigint, customType, index, integer, pgTable, primaryKey, text, uniqueIndex } from "drizzle-orm/pg-core";
import type { Scopes } from "../../identity/user.ts";
import type { SessionIdentity } from "../schema.ts";

/** Milliseconds since the epoch. */
const time = (name: string) => bigint(name, { mode: "number" });

/**
 * Row ids: int8, as SQLite's rowids are 64-bit. An identity value is used up
 * by every INSERT … ON CONFLICT, even one that updates instead (upsertUser at
 * each login and token creation): int4 user ids would run out within a year
 * at 100 logins a second.
 */
const id = (name: string) => bigint(name, { mode: "number" });

/** JSON kept in a text column (see above): drizzle (de)serialises it, as SQLite's `text(…, { mode: "json" })` does; null stays SQL NULL. */
const jsonText = <T>(name: string) =>
  customType<{ data: T; driverData: string }>({
    dataType: () => "text",
    toDriver: (value) => JSON.stringify(value),
    fromDriver: (value) => JSON.parse(value) as T,
  })(name);

/** Everyone who has owned or managed a token, by (username, realm). */
export const users = pgTable(
  "users",
  {
    id: id("id").primaryKey().generatedByDefaultAsIdentity(),
    username: text("username").notNull(),
    realm: text("realm").notNull(),
    firstSeen: time("first_seen").notNull(),
    lastSeen: time("last_seen").notNull(),
  },
  (table) => [uniqueIndex("users_username_realm").on(table.username, table.realm)],
);

/** API tokens. Only the SHA-256 of the secret is kept; `id` is public. */
export const tokens = pgTable(
  "tokens",
  {
    id: text("id").primaryKey(),
    hash: text("hash").notNull(),
    userId: id("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    note: text("note").notNull().default(""),
    /** service → scopes; null: unrestricted. */
    scopes: jsonText<Scopes>("scopes"),
    createdAt: time("created_at").notNull(),
    expiresAt: time("expires_at"),
    parentId: text("parent_id"),
    sessionId: text("session_id"),
    lastUsedAt: time("last_used_at"),
    lastUsedAddress: text("last_used_address"),
    lastUsedReportedAddress: text("last_used_reported_address"),
    revokedAt: time("revoked_at"),
    formNonce: text("form_nonce"),
    familyId: text("family_id"),
    rotatedFrom: text("rotated_from"),
    rotatedTo: text("rotated_to"),
    rotatedUntil: time("rotated_until"),
    allowedNetworks: jsonText<string[]>("allowed_networks"),
    revokedReason: text("revoked_reason"),
    expiryNotifiedAt: time("expiry_notified_at"),
  },
  (table) => [
    uniqueIndex("tokens_hash").on(table.hash),
    uniqueIndex("tokens_form_nonce").on(table.formNonce),
    index("tokens_user_id").on(table.userId),
    index("tokens_parent_id").on(table.parentId),
    index("tokens_session_id").on(table.sessionId),
    index("tokens_family_id").on(table.familyId),
  ],
);

/** Who did what to which token, when, and from where. */
export const auditLog = pgTable(
  "audit_log",
  {
    id: id("id").primaryKey().generatedByDefaultAsIdentity(),
    at: time("at").notNull(),
    event: text("event").notNull(),
    actorUsername: text("actor_username"),
    actorRealm: text("actor_realm"),
    actorTokenId: text("actor_token_id"),
    tokenId: text("token_id"),
    targetUsername: text("target_username"),
    targetRealm: text("target_realm"),
    address: text("address"),
    reportedAddress: text("reported_address"),
    detail: jsonText<Record<string, unknown>>("detail"),
  },
  (table) => [
    index("audit_log_at").on(table.at),
    index("audit_log_token_id").on(table.tokenId),
    index("audit_log_event_id").on(table.event, table.id),
    index("audit_log_actor_id").on(table.actorUsername, table.id),
    index("audit_log_target_id").on(table.targetUsername, table.id),
  ],
);

/** Signing keys (managed mode): next → current → previous → retired; the private key only sealed. */
export const signingKeys = pgTable(
  "signing_keys",
  {
    kid: text("kid").primaryKey(),
    alg: text("alg").notNull(),
    state: text("state").notNull(),
    publicJwk: text("public_jwk").notNull(),
    privateKeySealed: text("private_key_sealed").notNull(),
    createdAt: time("created_at").notNull(),
    activatesAt: time("activates_at"),
    activatedAt: time("activated_at"),
    deactivatedAt: time("deactivated_at"),
    retiresAt: time("retires_at"),
    retiredAt: time("retired_at"),
  },
  (table) => [
    index("signing_keys_state").on(table.state),
    // One current key and one next key at most: a second instance's rotation cannot commit a second one.
    uniqueIndex("signing_keys_one_current_one_next").on(table.state).where(sql`state IN ('current', 'next')`),
  ],
);

/** Sessions: a login, kept alive by refreshing it (see ../schema.ts). */
export const sessions = pgTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    userId: id("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    provider: text("provider").notNull(),
    createdAt: time("created_at").notNull(),
    expiresAt: time("expires_at").notNull(),
    refreshedAt: time("refreshed_at"),
    refreshExpiresAt: time("refresh_expires_at").notNull(),
    revokedAt: time("revoked_at"),
    revokedReason: text("revoked_reason"),
    address: text("address"),
    reportedAddress: text("reported_address"),
    userAgent: text("user_agent"),
    identity: jsonText<SessionIdentity>("identity"),
    identityExpiresAt: time("identity_expires_at"),
  },
  (table) => [index("sessions_user_id").on(table.userId)],
);

/** Opaque handles a browser holds instead of a session's tokens: only the SHA-256 of each. */
export const sessionHandles = pgTable(
  "session_handles",
  {
    hash: text("hash").primaryKey(),
    sessionId: text("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    kind: text("kind").notNull(),
    createdAt: time("created_at").notNull(),
  },
  (table) => [index("session_handles_session_id").on(table.sessionId)],
);

/** A session's refresh tokens: only the SHA-256 of each secret. */
export const refreshTokens = pgTable(
  "refresh_tokens",
  {
    id: id("id").primaryKey().generatedByDefaultAsIdentity(),
    hash: text("hash").notNull(),
    sessionId: text("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    createdAt: time("created_at").notNull(),
    usedAt: time("used_at"),
  },
  (table) => [uniqueIndex("refresh_tokens_hash").on(table.hash), index("refresh_tokens_session_id").on(table.sessionId)],
);

/** Tiled's `first_eight` of each API token. */
export const tokenFirstEight = pgTable(
  "token_first_eight",
  {
    tokenId: text("token_id")
      .primaryKey()
      .references(() => tokens.id, { onDelete: "cascade" }),
    firstEight: text("first_eight").notNull(),
  },
  (table) => [index("token_first_eight_first_eight").on(table.firstEight)],
);

/** Regulation of guessing: failures per username and per address, and the bans they led to. */
export const regulationCounters = pgTable(
  "regulation_counters",
  {
    kind: text("kind").notNull(),
    subject: text("subject").notNull(),
    failures: integer("failures").notNull(),
    windowStartedAt: time("window_started_at").notNull(),
    bannedUntil: time("banned_until"),
  },
  (table) => [primaryKey({ columns: [table.kind, table.subject] }), index("regulation_counters_banned_until").on(table.bannedUntil)],
);

/** What a trusted front proxy said about an account it vouched for. */
export const userProfiles = pgTable("user_profiles", {
  userId: id("user_id")
    .primaryKey()
    .references(() => users.id, { onDelete: "cascade" }),
  email: text("email"),
  firstName: text("first_name"),
  lastName: text("last_name"),
  organisation: text("organisation"),
  provider: text("provider"),
  providerId: text("provider_id"),
  roles: jsonText<string[]>("roles"),
  updatedAt: time("updated_at").notNull(),
});

/** People who signed in with an identity provider (see ../schema.ts). */
export const externalAccounts = pgTable(
  "external_accounts",
  {
    provider: text("provider").notNull(),
    issuer: text("issuer").notNull(),
    subject: text("subject").notNull(),
    userId: id("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    roles: jsonText<string[]>("roles").notNull(),
    attributes: jsonText<Record<string, string>>("attributes").notNull(),
    refreshTokenSealed: text("refresh_token_sealed"),
    createdAt: time("created_at").notNull(),
    updatedAt: time("updated_at").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.provider, table.issuer, table.subject] }),
    uniqueIndex("external_accounts_provider_user").on(table.provider, table.userId),
  ],
);

/** Sign-ins under way at an identity provider (see ../schema.ts). */
export const signInFlows = pgTable(
  "sign_in_flows",
  {
    stateHash: text("state_hash").primaryKey(),
    provider: text("provider").notNull(),
    bindingHash: text("binding_hash").notNull(),
    purpose: text("purpose").notNull(),
    returnTo: text("return_to"),
    createdAt: time("created_at").notNull(),
    expiresAt: time("expires_at").notNull(),
  },
  (table) => [index("sign_in_flows_expires_at").on(table.expiresAt)],
);

/** Device-code sign-ins (see ../schema.ts). */
export const deviceAuthorizations = pgTable(
  "device_authorizations",
  {
    id: text("id").primaryKey(),
    deviceCodeHash: text("device_code_hash").notNull(),
    userCode: text("user_code").notNull(),
    provider: text("provider").notNull(),
    status: text("status").notNull(),
    address: text("address"),
    userAgent: text("user_agent"),
    createdAt: time("created_at").notNull(),
    expiresAt: time("expires_at").notNull(),
    interval: integer("interval").notNull(),
    lastPolledAt: time("last_polled_at"),
    userId: id("user_id").references(() => users.id, { onDelete: "cascade" }),
    identity: jsonText<SessionIdentity>("identity"),
    approvedAt: time("approved_at"),
  },
  (table) => [
    uniqueIndex("device_authorizations_device_code_hash").on(table.deviceCodeHash),
    uniqueIndex("device_authorizations_user_code").on(table.userCode),
    index("device_authorizations_expires_at").on(table.expiresAt),
  ],
);

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
