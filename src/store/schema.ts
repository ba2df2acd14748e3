// The store's tables, as drizzle sees them. `bun x drizzle-kit generate`
// turns changes here into a new SQL migration under migrations/ (then add its
// import to ./migrations.ts). Times are integers: milliseconds since the epoch.
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { Scopes } from "../identity/user.ts";

/** A session's user as last read: what a browser handle authenticates as. */
export interface SessionIdentity {
  roles: string[];
  attributes: Record<string, string>;
  scopes: Scopes | null;
}

/** Everyone who has owned or managed a token, by (username, realm). */
export const users = sqliteTable(
  "users",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    username: text("username").notNull(),
    realm: text("realm").notNull(),
    firstSeen: integer("first_seen").notNull(),
    lastSeen: integer("last_seen").notNull(),
  },
  (table) => [uniqueIndex("users_username_realm").on(table.username, table.realm)],
);

/** API tokens. Only the SHA-256 of the secret is kept; `id` is public. */
export const tokens = sqliteTable(
  "tokens",
  {
    id: text("id").primaryKey(),
    hash: text("hash").notNull(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    note: text("note").notNull().default(""),
    /** service → scopes; null: unrestricted (every configured service and scope). */
    scopes: text("scopes", { mode: "json" }).$type<Scopes>(),
    createdAt: integer("created_at").notNull(),
    /** null: never expires (only when tokens.allow_non_expiring). */
    expiresAt: integer("expires_at"),
    /** The token used to create this one, when it was created with a token: revoking it revokes this one. */
    parentId: text("parent_id"),
    /** The session whose access token created this one (or its parent), if any: see sessions/service.ts for what ending it does. */
    sessionId: text("session_id"),
    lastUsedAt: integer("last_used_at"),
    lastUsedAddress: text("last_used_address"),
    lastUsedReportedAddress: text("last_used_reported_address"),
    revokedAt: integer("revoked_at"),
    /** The portal's single-use form nonce the token was made with: a form sent twice (a reload) makes one token. */
    formNonce: text("form_nonce"),
    /** The first token of its rotation family (null: it is the first, or was never rotated): reuse revokes the family. */
    familyId: text("family_id"),
    /** The token it replaced by rotation. */
    rotatedFrom: text("rotated_from"),
    /** The token that replaced it by rotation. */
    rotatedTo: text("rotated_to"),
    /** Rotated away: its secret works until then (the grace); presented later, it revokes its family. Read on every use. */
    rotatedUntil: integer("rotated_until"),
    /** CIDR blocks it may be used from (JSON list); null: anywhere. Read on every use. */
    allowedNetworks: text("allowed_networks", { mode: "json" }).$type<string[]>(),
    /** Why it was revoked, when not by its owner's or an admin's choice (reuse after rotation, found public, unused). */
    revokedReason: text("revoked_reason"),
    /** When its owner was notified that it expires soon (once per token). */
    expiryNotifiedAt: integer("expiry_notified_at"),
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
export const auditLog = sqliteTable(
  "audit_log",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    at: integer("at").notNull(),
    /** e.g. token.created, token.revoked, token.delete_denied, token.create_denied */
    event: text("event").notNull(),
    actorUsername: text("actor_username"),
    actorRealm: text("actor_realm"),
    /** The token the actor authenticated with, if any. */
    actorTokenId: text("actor_token_id"),
    tokenId: text("token_id"),
    targetUsername: text("target_username"),
    targetRealm: text("target_realm"),
    /** The peer's socket address (nginx's, behind a proxy), or "cli". */
    address: text("address"),
    /** What X-Real-IP / X-Forwarded-For claimed: informative only, a client can forge it. */
    reportedAddress: text("reported_address"),
    detail: text("detail", { mode: "json" }).$type<Record<string, unknown>>(),
  },
  (table) => [
    index("audit_log_at").on(table.at),
    index("audit_log_token_id").on(table.tokenId),
    // GET /api/v1/audit and `gatehouse audit` filter on these and page by id.
    index("audit_log_event_id").on(table.event, table.id),
    index("audit_log_actor_id").on(table.actorUsername, table.id),
    index("audit_log_target_id").on(table.targetUsername, table.id),
  ],
);

/**
 * Signing keys (managed mode). The private key is only ever stored encrypted
 * with the master key (keys/master-key.ts), and erased at retirement.
 * state: next (published, not signing) → current (signs) → previous
 * (verifies) → retired.
 */
export const signingKeys = sqliteTable(
  "signing_keys",
  {
    kid: text("kid").primaryKey(),
    alg: text("alg").notNull(),
    state: text("state").notNull(),
    /** The public JWK, as published. */
    publicJwk: text("public_jwk").notNull(),
    privateKeySealed: text("private_key_sealed").notNull(),
    createdAt: integer("created_at").notNull(),
    /** For a next key: when it starts signing. */
    activatesAt: integer("activates_at"),
    activatedAt: integer("activated_at"),
    deactivatedAt: integer("deactivated_at"),
    /** For a previous key: when every token it signed has expired. */
    retiresAt: integer("retires_at"),
    retiredAt: integer("retired_at"),
  },
  (table) => [index("signing_keys_state").on(table.state)],
);

/**
 * Sessions (Tiled's model): a login, kept alive by refreshing it. `id` is
 * public (`ses_…`, random). Two limits: `expires_at` is absolute
 * (authentication.session_max_age after the login), `refresh_expires_at`
 * slides forward with each refresh (refresh_token_max_age), never past
 * `expires_at`. A session is live while neither has passed and it is not
 * revoked.
 */
export const sessions = sqliteTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** The provider that checked the login; its describeUser re-reads roles at each refresh. */
    provider: text("provider").notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    refreshedAt: integer("refreshed_at"),
    refreshExpiresAt: integer("refresh_expires_at").notNull(),
    revokedAt: integer("revoked_at"),
    /** e.g. "logout", "revoked", "refresh token reuse". */
    revokedReason: text("revoked_reason"),
    /** The peer's socket address at login. */
    address: text("address"),
    /** What X-Real-IP / X-Forwarded-For claimed at login: informative only. */
    reportedAddress: text("reported_address"),
    userAgent: text("user_agent"),
    /** Who the user was at the last sign-in or re-read (roles, attributes, scopes): what a browser handle vouches for. */
    identity: text("identity", { mode: "json" }).$type<SessionIdentity>(),
    /** When `identity` must be read again from the provider (as an access token would have expired). */
    identityExpiresAt: integer("identity_expires_at"),
  },
  (table) => [index("sessions_user_id").on(table.userId)],
);

/**
 * Opaque handles a browser holds instead of a session's tokens (the portal's
 * cookie): only the SHA-256 of each, so the database holds nothing a browser
 * could present. `kind` says which cookie carries it ("portal").
 */
export const sessionHandles = sqliteTable(
  "session_handles",
  {
    hash: text("hash").primaryKey(),
    sessionId: text("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    kind: text("kind").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (table) => [index("session_handles_session_id").on(table.sessionId)],
);

/**
 * A session's refresh tokens: only the SHA-256 of each secret. Refreshing
 * marks the presented one used and adds its successor; a used one presented
 * again revokes the whole session (reuse detection).
 */
export const refreshTokens = sqliteTable(
  "refresh_tokens",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    hash: text("hash").notNull(),
    sessionId: text("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    createdAt: integer("created_at").notNull(),
    /** When it was exchanged for its successor; null while it is the session's current one. */
    usedAt: integer("used_at"),
  },
  (table) => [uniqueIndex("refresh_tokens_hash").on(table.hash), index("refresh_tokens_session_id").on(table.sessionId)],
);

/**
 * Tiled's `first_eight` of each API token (the first 8 random characters of
 * the secret): how Tiled clients name a key in lists and revoke it. Written
 * with the token; tokens created before this table existed have none.
 */
export const tokenFirstEight = sqliteTable(
  "token_first_eight",
  {
    tokenId: text("token_id")
      .primaryKey()
      .references(() => tokens.id, { onDelete: "cascade" }),
    firstEight: text("first_eight").notNull(),
  },
  (table) => [index("token_first_eight_first_eight").on(table.firstEight)],
);

/**
 * Regulation of guessing (regulation/regulator.ts): failed password or API-key
 * attempts per username and per client address within a window, and the ban
 * they led to. Shared by every instance on the store.
 */
export const regulationCounters = sqliteTable(
  "regulation_counters",
  {
    /** "username" or "address". */
    kind: text("kind").notNull(),
    subject: text("subject").notNull(),
    failures: integer("failures").notNull(),
    windowStartedAt: integer("window_started_at").notNull(),
    /** Set when the failures reached the limit: refused until then. */
    bannedUntil: integer("banned_until"),
  },
  (table) => [primaryKey({ columns: [table.kind, table.subject] }), index("regulation_counters_banned_until").on(table.bannedUntil)],
);

/**
 * What a trusted front proxy said about an account it vouched for
 * (providers/trusted-header.ts): written when the account is created, and
 * again whenever the proxy's headers change. `roles` is the last list the
 * proxy sent (when a roles header is configured), so that the account's API
 * tokens carry the same roles.
 */
export const userProfiles = sqliteTable("user_profiles", {
  userId: integer("user_id")
    .primaryKey()
    .references(() => users.id, { onDelete: "cascade" }),
  email: text("email"),
  firstName: text("first_name"),
  lastName: text("last_name"),
  organisation: text("organisation"),
  /** The external identity provider (geOrchestra's preauth-provider) and the user's id there. */
  provider: text("provider"),
  providerId: text("provider_id"),
  roles: text("roles", { mode: "json" }).$type<string[]>(),
  updatedAt: integer("updated_at").notNull(),
});

/**
 * People who signed in with an identity provider (providers/oidc.ts): one row
 * per (provider, issuer, subject), never matched by e-mail, linked to the
 * account it made. `roles` and `attributes` are what the provider said at the
 * last sign-in (or re-check): a session refresh re-reads them from here.
 * `refreshTokenSealed`: the provider's refresh token, sealed with the master
 * key, kept only with `recheck_on_refresh`.
 */
export const externalAccounts = sqliteTable(
  "external_accounts",
  {
    provider: text("provider").notNull(),
    issuer: text("issuer").notNull(),
    subject: text("subject").notNull(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    roles: text("roles", { mode: "json" }).notNull().$type<string[]>(),
    attributes: text("attributes", { mode: "json" }).notNull().$type<Record<string, string>>(),
    refreshTokenSealed: text("refresh_token_sealed"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.provider, table.issuer, table.subject] }),
    // One identity per account and provider: a second subject cannot take over a username.
    uniqueIndex("external_accounts_provider_user").on(table.provider, table.userId),
  ],
);

/**
 * Sign-ins under way at an identity provider (authorization code with PKCE):
 * single use, valid for minutes. Only hashes: the `state` the provider sends
 * back, and the secret held in the browser's flow cookie, from which the PKCE
 * verifier and the nonce are derived — so this table holds nothing that could
 * finish a sign-in.
 */
export const signInFlows = sqliteTable(
  "sign_in_flows",
  {
    stateHash: text("state_hash").primaryKey(),
    provider: text("provider").notNull(),
    bindingHash: text("binding_hash").notNull(),
    /** "portal", "tiled" or "device": where the person goes once signed in. */
    purpose: text("purpose").notNull(),
    /** The portal path to return to, or the device authorization being approved. */
    returnTo: text("return_to"),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (table) => [index("sign_in_flows_expires_at").on(table.expiresAt)],
);

/**
 * Device-code sign-ins (RFC 8628, in Tiled's shape): a command line asks for
 * one, a person approves it in a browser, the command line collects a session.
 * The device code is kept as its SHA-256 only; the user code is short-lived,
 * single use and unique while pending.
 */
export const deviceAuthorizations = sqliteTable(
  "device_authorizations",
  {
    id: text("id").primaryKey(),
    deviceCodeHash: text("device_code_hash").notNull(),
    userCode: text("user_code").notNull(),
    provider: text("provider").notNull(),
    /** "pending", "approved", "denied", "collected". */
    status: text("status").notNull(),
    /** Who asked (shown to the person approving). */
    address: text("address"),
    userAgent: text("user_agent"),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    /** Seconds the client must wait between polls; raised by `slow_down`. */
    interval: integer("interval").notNull(),
    lastPolledAt: integer("last_polled_at"),
    /** The person who approved it, as their provider described them then. */
    userId: integer("user_id").references(() => users.id, { onDelete: "cascade" }),
    identity: text("identity", { mode: "json" }).$type<SessionIdentity>(),
    approvedAt: integer("approved_at"),
  },
  (table) => [
    uniqueIndex("device_authorizations_device_code_hash").on(table.deviceCodeHash),
    uniqueIndex("device_authorizations_user_code").on(table.userCode),
    index("device_authorizations_expires_at").on(table.expiresAt),
  ],
);
