// The configuration schema: the single source for validation, defaults, the
// printed JSON Schema (`gatehouse config schema`) and the TypeScript type.
// Keys follow auth-o-tron (1.0.0 and 2.0.0 files load unchanged); Gatehouse's
// own sections extend that layout without renaming anything.
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { providerTypes } from "../providers/registry.ts";
import { augmenterTypes } from "../augmenters/registry.ts";
import { SCOPE_NAME, SERVICE_NAME } from "../tokens/scopes.ts";
import { ssoSchema } from "../sso/schema.ts";
import { AccessSchema } from "../access/schema.ts";
import { AUTH_O_TRON_IGNORED_KEYS } from "./unknown-keys.ts";
import { SECRET_FILE_KEYS } from "./environment.ts";

const oneOf = <const T extends string>(values: readonly T[], options: { default?: T; description?: string } = {}) =>
  Type.Unsafe<T>(
    Type.Union(
      values.map((value) => Type.Literal(value)),
      options,
    ),
  );

/** Common head of every provider/augmenter entry; the entry's own schema is checked after its type is known. */
const pluginEntry = Type.Object(
  { type: Type.String({ minLength: 1 }), name: Type.String({ minLength: 1 }), realm: Type.String({ minLength: 1 }) },
  { additionalProperties: true },
);

// Each section of the file, in the order of the file; buildSchema puts them together.
const loggingSection = Type.Object(
    {
      level: oneOf(["trace", "debug", "info", "warn", "error"] as const, {
        default: "info",
        description: "Any case, as auth-o-tron (INFO works)",
      }),
      format: oneOf(["console", "json"] as const, {
        default: "console",
        description: "json: auth-o-tron's OpenTelemetry lines; any other value means console, as auth-o-tron",
      }),
      service_name: Type.String({ default: "gatehouse", description: "resource.service.name of JSON lines" }),
      service_version: Type.Optional(Type.String({ description: "resource.service.version of JSON lines; default: Gatehouse's version" })),
    },
    { default: {}, additionalProperties: true, description: "Log lines, in auth-o-tron's formats" },
  );

const serverSection = Type.Object(
    {
      host: Type.String({ default: "0.0.0.0", description: "Address to listen on (the metrics port's too): 0.0.0.0 for every IPv4 address, 127.0.0.1 for this machine only" }),
      port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: "TCP port of /authenticate, the API and the portal; 0: any free port" }),
      socket: Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: 100,
          description:
            "Also (or only: when server.port is not set) listen on this Unix socket, e.g. /run/gatehouse/auth.sock, for nginx's `upstream { server unix:…; }`",
        }),
      ),
      socket_mode: Type.String({ pattern: "^0?[0-7]{3}$", default: "0660", description: "The socket file's mode (who may ask Gatehouse): octal" }),
      socket_group: Type.Optional(Type.String({ minLength: 1, description: "The socket file's group (a name or a number), e.g. nginx's (www-data)" })),
      workers: Type.Union([Type.Integer({ minimum: 1, maximum: 256 }), Type.Literal("auto")], {
        default: 1,
        description:
          "Processes serving the port (reusePort) and sharing the store; auto: one per core. Metrics of all are combined on the metrics port",
      }),
    },
    { default: {}, additionalProperties: true, description: "Where Gatehouse listens for nginx (or another proxy) and for the API and the portal" },
  );

const tlsSection = Type.Optional(
    Type.Object(
      {
        cert: Type.Optional(Type.String({ minLength: 1, description: "PEM certificate (with its chain) file" })),
        key: Type.Optional(Type.String({ minLength: 1, description: "PEM private key file, encrypted or not" })),
        passphrase_file: Type.Optional(Type.String({ minLength: 1, description: "File whose first line is the key's pass phrase" })),
        dhparams: Type.Optional(Type.String({ minLength: 1, description: "PEM DH parameters file (openssl dhparam)" })),
        ca: Type.Optional(Type.String({ minLength: 1, description: "PEM file of CA certificates, for the certificate chain" })),
        dir: Type.Optional(
          Type.String({
            minLength: 1,
            description:
              "ecFlow-style folder: server.crt, server.key, server.passwd (optional), dh2048.pem or dh1024.pem (optional), else <host>.<port>.crt/.key/.passwd/.pem; the plain names are preferred. cert, key… given here win",
          }),
        ),
        name: Type.Optional(
          Type.String({ minLength: 1, description: "Use only the <host>.<port> files of dir, as ecFlow's ECF_SSL=<host>.<port>" }),
        ),
        host: Type.Optional(Type.String({ minLength: 1, description: "The <host> of dir's <host>.<port> files; default: this machine's host name" })),
        port: Type.Optional(
          Type.Integer({
            minimum: 0,
            maximum: 65535,
            description: "Serve HTTPS on this port and plain HTTP on server.port at once; without it server.port serves HTTPS only",
          }),
        ),
      },
      { additionalProperties: false, description: "HTTPS served by Gatehouse itself (the certificate is checked at start-up)" },
    ),
  );

const metricsSection = Type.Object(
    {
      enabled: Type.Boolean({ default: true, description: "Serve Prometheus metrics, /health and /ready on a port of their own (metrics.port)" }),
      port: Type.Integer({
        minimum: 0,
        maximum: 65535,
        default: 9090,
        description: "Port of GET /metrics, /health and /ready, on server.host; must differ from server.port",
      }),
      legacy_names: Type.Boolean({
        default: false,
        description: "Name the six auth families as auth-o-tron 0.3.7 did, without the authotron_ prefix",
      }),
    },
    { default: {}, additionalProperties: true, description: "Prometheus metrics and the health checks, on a port of their own" },
  );

const regulationSection = Type.Object(
    {
      enabled: Type.Boolean({ default: true, description: "Ban usernames and client addresses after repeated failures (false: no regulation)" }),
      max_retries: Type.Integer({
        minimum: 1,
        default: 5,
        description: "Failed password or API-key attempts for one username (in one realm) within find_time that ban it there for ban_time",
      }),
      address_max_retries: Type.Integer({
        minimum: 1,
        default: 20,
        description: "Failed password or API-key attempts from one client address within find_time that ban it for ban_time",
      }),
      find_time: Type.Integer({ minimum: 1, default: 120, description: "Window in seconds in which failures are counted" }),
      ban_time: Type.Integer({ minimum: 1, default: 300, description: "Seconds a banned username or address is refused (429, Retry-After)" }),
      authenticate_status: Type.Union([Type.Literal(401), Type.Literal(429)], {
        default: 401,
        description:
          "Status of a banned attempt on /authenticate. 401 (with Retry-After) because nginx's auth_request answers 500 for anything but 2xx, 401 and 403; 429 behind Traefik or Caddy, which pass it on. Other routes answer 429",
      }),
      trusted_proxies: Type.Array(Type.String({ minLength: 1 }), {
        default: ["127.0.0.1", "::1", "::ffff:127.0.0.1"],
        description:
          "Addresses or CIDR ranges (10.0.0.0/8) of peers whose X-Real-IP header names the client (set it in every nginx location that proxies to Gatehouse, /auth first: proxy_set_header X-Real-IP $remote_addr). A request from such a peer without X-Real-IP has no known address and is regulated by username only; a peer seen passing clients' own X-Real-IP on is not believed again until a restart or reload",
      }),
    },
    {
      default: {},
      additionalProperties: true,
      description: "Regulation of password guessing, as Authelia's: repeated failures ban a username or a client address for a while",
    },
  );

const jwtSection = Type.Object(
    {
      iss: Type.String({ minLength: 1, description: "The `iss` claim of issued JWTs" }),
      aud: Type.Optional(Type.String({ description: "The `aud` claim, when set" })),
      exp: Type.Integer({ minimum: 1, default: 3600, description: "JWT lifetime in seconds" }),
      secret: Type.Optional(
        Type.String({ minLength: 1, description: "HS256 signing secret (or secret_file: a file holding it)" }),
      ),
      secrets: Type.Optional(
        Type.Array(Type.String({ minLength: 1 }), {
          minItems: 1,
          description:
            "HS256 secrets for rotation, as Tiled's secret_keys: the first signs, every one verifies. From the environment: GATEHOUSE_JWT__SECRETS='new;old'",
        }),
      ),
      kid: Type.Optional(
        Type.String({ description: "With private_key (auth-o-tron 0.4.0): the non-empty `kid` of the signing key, in every JWT header" }),
      ),
      private_key: Type.Optional(
        Type.String({
          description:
            "RSA private key in PEM (at least 2048 bits) that signs RS256, as auth-o-tron 0.4.0; best from AOT_JWT__PRIVATE_KEY / GATEHOUSE_JWT__PRIVATE_KEY (multi-line) or private_key_file",
        }),
      ),
      additional_public_keys: Type.Array(
        Type.Object(
          {
            kid: Type.String({ description: "The key's kid, never reused for other key material" }),
            public_key: Type.String({ description: "RSA public key in PEM (or public_key_file)" }),
          },
          { additionalProperties: false },
        ),
        {
          default: [],
          description:
            "Staged rotation with private_key: public keys that verify and are published in the JWKS but do not sign (the next key before it signs, the previous one until its tokens expire)",
        },
      ),
      alg: Type.Optional(
        oneOf(["HS256", "ES256", "EdDSA", "RS256"] as const, {
          description:
            "HS256 signs with the shared secret(s); ES256, EdDSA and RS256 use key pairs managed in the store and published at /.well-known/jwks.json. Default: HS256 when a secret is set, else ES256",
        }),
      ),
      allow_short_secret: Type.Boolean({
        default: false,
        description: "Accept HS256 secrets shorter than 32 bytes (RFC 7518 §3.2 asks for at least 32) without a warning",
      }),
      reuse_seconds: Type.Integer({
        minimum: 0,
        default: 5,
        description:
          "A JWT signed for an identity is reused for this long when the same identity authenticates again (bounded, never across a failed check); 0 signs every time",
      }),
    },
    { additionalProperties: true, description: "The JWTs Gatehouse signs for each authenticated request, and how they are signed" },
  );

const storeSection = Type.Object(
    {
      enabled: Type.Boolean({
        default: true,
        description: "Keep API tokens, sessions, signing keys and the audit log in a database; false: no store, as auth-o-tron (API tokens, sessions, the portal and managed signing keys need one)",
      }),
      type: oneOf(["sqlite", "postgres"] as const, {
        default: "sqlite",
        description: "sqlite: one file (store.path), for one host; postgres: a database shared by several instances (store.url)",
      }),
      path: Type.String({ default: "./data/gatehouse.db", description: "SQLite database file" }),
      url: Type.Optional(
        Type.String({
          minLength: 1,
          description:
            "PostgreSQL connection URL, postgres://USER:PASSWORD@HOST:PORT/DATABASE (store.type postgres); also url_file (a secret file) or GATEHOUSE_STORE__URL. Never logged",
        }),
      ),
      pool_size: Type.Integer({
        minimum: 1,
        maximum: 1000,
        default: 10,
        description: "PostgreSQL: connections each instance (each worker) keeps open at most",
      }),
      tls: Type.Optional(
        Type.Object(
          {
            ca_file: Type.Optional(Type.String({ minLength: 1, description: "PEM file of the CA that signed the server's certificate; default: the system's CAs" })),
            reject_unauthorized: Type.Boolean({
              default: true,
              description: "Refuse a server whose certificate does not verify (false: encrypted but unauthenticated; for tests only)",
            }),
          },
          {
            additionalProperties: true,
            description: "PostgreSQL over TLS (otherwise the URL's sslmode decides)",
          },
        ),
      ),
    },
    { default: {}, additionalProperties: true, description: "The database of API tokens, sessions, signing keys and the audit log: SQLite or PostgreSQL" },
  );

const purgeSection = Type.Object(
    {
      interval: Type.Integer({
        minimum: 0,
        default: 3600,
        description: "Seconds between purges of ended sessions and tokens (then a WAL checkpoint); 0: never purge",
      }),
      sessions_after: Type.Integer({
        minimum: 0,
        default: 2592000,
        description: "Seconds a session is kept after it ended (revoked, expired or left unrefreshed): 30 days",
      }),
      tokens_after: Type.Integer({
        minimum: 0,
        default: 7776000,
        description: "Seconds an API token is kept after it expired or was revoked: 90 days",
      }),

    },
    { default: {}, additionalProperties: true, description: "Deleting ended sessions and tokens, so that the store does not grow forever (the audit log has its own retention: audit.retention)" },
  );

const servicesSection = Type.Array(
    Type.Object(
      {
        name: Type.String({ pattern: SERVICE_NAME.source, description: "Letters, digits, _ . - (at most 64)" }),
        scopes: Type.Array(Type.String({ pattern: SCOPE_NAME.source, description: "Letters, digits, _ . - and, after the first character, : (Tiled's read:data)" }), {
          default: [],
          description: "The scopes of this service a token may be limited to (letters, digits, _ . - and, after the first character, : as Tiled's read:data)",
        }),
      },
      { additionalProperties: true },
    ),
    { default: [], description: "Services and the scopes an API token may carry for each" },
  );

const keysSection = Type.Object(
    {
      publish_ahead: Type.Integer({
        minimum: 0,
        default: 3600,
        description: "Seconds a new signing key is published in the JWKS before it signs (managed keys)",
      }),
      rotate_every: Type.Integer({
        minimum: 0,
        default: 7776000,
        description: "Rotate the signing key when it has signed for this many seconds (90 days); 0: only on request",
      }),
      retire_margin: Type.Integer({
        minimum: 0,
        default: 300,
        description: "Seconds a previous key stays published after the longest token it signed has expired",
      }),
      poll_interval: Type.Integer({
        minimum: 1,
        default: 10,
        description: "How often each instance re-reads the keys from the store (seconds)",
      }),
      master_key_file: Type.Optional(
        Type.String({
          description:
            "File holding the key that encrypts private keys at rest; GATEHOUSE_MASTER_KEY wins; default: master.key next to the store",
        }),
      ),
    },
    { default: {}, additionalProperties: true, description: "Managed signing keys (jwt.alg ES256, EdDSA, or RS256 without private_key): kept in the store, encrypted with the master key, rotated, published in the JWKS" },
  );

const tokensSection = Type.Object(
    {
      prefix: Type.String({
        pattern: "^[A-Za-z][A-Za-z0-9]{0,15}_$",
        default: "gth_",
        description:
          "Prefix of Gatehouse's API tokens (letters and digits, ending in _), so that people and secret scanners recognise them",
      }),
      default_expires_in: Type.Integer({
        minimum: 1,
        default: 2592000,
        description: "Lifetime in seconds of a token created without an expiry (30 days)",
      }),
      max_expires_in: Type.Integer({
        minimum: 1,
        default: 31536000,
        description: "Longest lifetime in seconds a token may be given (365 days)",
      }),
      allow_non_expiring: Type.Boolean({
        default: false,
        description: "Allow tokens that never expire (asked for with expires_in: null)",
      }),
      max_rotation_grace: Type.Integer({
        minimum: 0,
        maximum: 3600,
        default: 0,
        description:
          "Longest grace_seconds a rotation may give the old secret, so that a deployment can switch over (at most 3600; 0: the old secret stops at once)",
      }),
      remind_before: Type.Integer({
        minimum: 0,
        default: 604800,
        description: "Seconds before its expiry from which a token is marked in the portal and counted as expiring (7 days)",
      }),
      expire_unused_after: Type.Integer({
        minimum: 0,
        default: 0,
        description:
          "Seconds: a token not used for this long (never used: since its creation) is revoked by the purge, audited as token.expired_unused (0: never; e.g. 7776000 for 90 days)",
      }),
      leaks: Type.Object(
        {
          github_keys_url: Type.Optional(
            Type.String({
              pattern: "^https?://",
              description:
                "Where GitHub publishes the public keys that sign its secret-scanning reports (https://api.github.com/meta/public_keys/secret_scanning): POST /api/v1/tokens/report-leak accepts reports signed with them",
            }),
          ),
          github_keys_file: Type.Optional(
            Type.String({ minLength: 1, description: "The same keys from a file (the JSON GitHub serves there), for a host that cannot reach GitHub" }),
          ),
        },
        { default: {}, additionalProperties: true, description: "Leak reports: tokens found in public are revoked at once" },
      ),
      notifications: Type.Object(
        {
          webhook: Type.Optional(
            Type.Object(
              {
                url: Type.String({ pattern: "^https?://", description: "Where token events are posted (token.expiring, token.expired_unused, token.reuse_detected, token.leaked)" }),
                secret: Type.String({ minLength: 16, description: "Signs each body (HMAC-SHA256, X-Gatehouse-Signature); or secret_file: a file holding it" }),
              },
              { additionalProperties: true, description: "A webhook that receives token events as signed JSON posts" },
            ),
          ),
        },
        { default: {}, additionalProperties: true, description: "Notifications of token events, for an operator to tell people (Gatehouse sends no mail itself)" },
      ),
    },
    { default: {}, additionalProperties: true, description: "Gatehouse's API tokens (kept in the store)" },
  );

const portalSection = Type.Object(
    {
      enabled: Type.Boolean({ default: true, description: "Serve the web portal at /portal/ (needs the store)" }),
      public_url: Type.Optional(
        Type.String({
          pattern: "^https?://[^/?#]+(/[^?#]*)?$",
          description:
            "The portal's address as people reach it, e.g. https://host/auth/portal/ (default: from the request and the proxy's X-Forwarded-Proto/-Host/-Prefix)",
        }),
      ),
    },
    { default: {}, additionalProperties: true, description: "The web portal: token self-service, sessions, and key rotation for admins" },
  );

const authenticationSection = Type.Object(
    {
      access_token_max_age: Type.Integer({
        minimum: 1,
        default: 900,
        description:
          "Lifetime in seconds of a session's access token (15 minutes); also GATEHOUSE_ACCESS_TOKEN_MAX_AGE or TILED_ACCESS_TOKEN_MAX_AGE",
      }),
      refresh_token_max_age: Type.Integer({
        minimum: 1,
        default: 604800,
        description:
          "Sliding inactivity limit in seconds (one week): a session not refreshed for this long ends; each refresh extends it. Also GATEHOUSE_REFRESH_TOKEN_MAX_AGE or TILED_REFRESH_TOKEN_MAX_AGE",
      }),
      session_max_age: Type.Integer({
        minimum: 1,
        default: 31536000,
        description:
          "Absolute limit in seconds (365 days): after it the user logs in again, however active. Also GATEHOUSE_SESSION_MAX_AGE or TILED_SESSION_MAX_AGE",
      }),
      unverifiable_max_age: Type.Integer({
        minimum: 1,
        default: 86400,
        description:
          "Longest life in seconds (one day) of an API token or a session made from a credential of a realm whose providers cannot tell later whether the user still exists (remote key services such as ecmwf-api): a key revoked upstream stops what was made from it within this time",
      }),
      max_sessions_per_user: Type.Integer({
        minimum: 1,
        default: 200,
        description: "Live sessions (neither revoked nor expired) a user may hold; a login beyond it is refused (403)",
      }),
    },
    {
      default: {},
      additionalProperties: true,
      description: "Sessions, as Tiled names their lifetimes: a login returns an access token and a refresh token (kept in the store)",
    },
  );

function buildSchema<P extends TSchema, A extends TSchema>(providerItem: P, augmenterItem: A) {
  return Type.Object(
    {
      config: Type.Optional(
        Type.Object(
          {
            strict: Type.Boolean({
              default: false,
              description: "Refuse keys Gatehouse does not know (a typo), in `config check` and at start-up, instead of warning about them",
            }),
          },
          { additionalProperties: true, description: "How the config itself is read" },
        ),
      ),
      version: oneOf(["1.0.0", "2.0.0"] as const, {
        default: "2.0.0",
        description: "auth-o-tron config version: 1.0.0 uses bind_address, 2.0.0 uses server",
      }),
      logging: loggingSection,
      auth: Type.Object(
        {
          timeout_in_ms: Type.Integer({
            minimum: 1,
            default: 5000,
            description: "Time limit for each remote provider's answer",
          }),
        },
        { default: {}, additionalProperties: true, description: "Calls to remote services: providers (ecmwf-api, LDAP…), identity providers, the webhook" },
      ),
      providers: Type.Array(providerItem, { default: [] }),
      augmenters: Type.Array(augmenterItem, { default: [] }),
      bind_address: Type.Optional(
        Type.String({ description: "host:port to listen on (auth-o-tron 1.0.0); overrides server.host/port" }),
      ),
      server: serverSection,
      tls: tlsSection,
      metrics: metricsSection,
      regulation: regulationSection,
      audit: Type.Object(
        {
          retention: Type.Integer({
            minimum: 0,
            default: 31536000,
            description: "Seconds audit events are kept (365 days); 0 keeps them forever",
          }),
          purge_interval: Type.Integer({ minimum: 1, default: 3600, description: "How often older events are purged (seconds)" }),
        },
        { default: {}, additionalProperties: true, description: "The audit log in the store" },
      ),
      jwt: jwtSection,
      include_legacy_headers: Type.Boolean({
        default: false,
        description: "Also answer X-Auth-Username, X-Auth-Realm and X-Auth-Roles",
      }),
      store: storeSection,
      purge: purgeSection,
      services: servicesSection,
      public_url: Type.Optional(
        Type.String({
          description:
            "The URL clients reach Gatehouse at (e.g. https://auth.example.org), for the links in discovery documents; without it they are built per request, and not cached by shared caches",
        }),
      ),
      trusted_proxies: Type.Array(Type.String(), {
        default: [],
        description:
          "Addresses or CIDR ranges (10.0.0.0/8) of reverse proxies whose X-Forwarded-Proto/-Host/-Prefix headers are believed when public_url is not set; nobody else's are",
      }),
      admin_role: Type.String({ default: "admin", description: "Users with this role administer every user's tokens" }),
      access: AccessSchema,
      keys: keysSection,
      tokens: tokensSection,
      portal: portalSection,
      sso: ssoSchema,
      authentication: authenticationSection,
    },
    { additionalProperties: true, $id: "https://gatehouse.dev/schema/config.json", title: "Gatehouse configuration" },
  );
}

/** Used for validation: provider entries are checked against their own type's schema afterwards. */
export const ConfigSchema = buildSchema(pluginEntry, pluginEntry);

/**
 * The documented schema, with every provider and augmenter type spelled out, for editors: an object
 * whose keys Gatehouse all knows admits no other (a typo is flagged), but for the `<key>_file` form
 * of secrets and the keys auth-o-tron reads and Gatehouse ignores; only keys without a default are
 * required.
 */
export function documentedSchema() {
  const schema = JSON.parse(
    JSON.stringify(
      buildSchema(
        Type.Union(providerTypes.map((provider) => provider.schema)),
        Type.Union(augmenterTypes.map((augmenter) => augmenter.schema)),
      ),
    ),
  ) as JsonSchema;
  closeObjects(schema);
  for (const ignored of AUTH_O_TRON_IGNORED_KEYS) {
    const description = `Read by auth-o-tron, ignored by Gatehouse: ${ignored.why}`;
    for (const object of objectsAt(schema, ignored.path.split(".").slice(0, -1), ignored.type)) {
      object.properties![ignored.path.split(".").at(-1)!] = { description };
    }
  }
  return schema;
}

type JsonSchema = {
  properties?: Record<string, JsonSchema>;
  patternProperties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  default?: unknown;
  const?: unknown;
  [key: string]: unknown;
};

function closeObjects(schema: JsonSchema): void {
  for (const child of [...Object.values(schema.properties ?? {}), ...Object.values(schema.patternProperties ?? {}), ...(schema.anyOf ?? [])]) closeObjects(child);
  if (schema.items) closeObjects(schema.items);
  if (!schema.properties || schema.patternProperties) return;
  const properties = schema.properties;
  for (const key of SECRET_FILE_KEYS.filter((name) => name in properties)) {
    properties[`${key}_file`] = { type: "string", description: `A file holding ${key} (instead of ${key}; a trailing newline is not part of it)` };
  }
  const required = (schema.required ?? []).filter((key) => properties[key]!.default === undefined && !SECRET_FILE_KEYS.includes(key));
  if (required.length > 0) schema.required = required;
  else delete schema.required;
  schema.additionalProperties = false;
}

/** The objects of the schema at `path` ("augmenters[]": each item's; of `type` alone when given). */
function objectsAt(schema: JsonSchema, path: string[], type?: string): JsonSchema[] {
  let nodes = [schema];
  for (const segment of path) {
    const key = segment.replace(/\[\]$/, "");
    nodes = nodes.map((node) => node.properties![key]!);
    if (segment.endsWith("[]")) nodes = nodes.flatMap((node) => node.items!.anyOf ?? [node.items!]);
  }
  return nodes.filter((node) => type === undefined || node.properties?.type?.const === type);
}

export type GatehouseConfig = Static<typeof ConfigSchema>;
export type PluginEntry = Static<typeof pluginEntry> & Record<string, unknown>;
