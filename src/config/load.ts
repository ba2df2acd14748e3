// Loading a config: file → YAML → ${VAR} → env overrides → secret files →
// auth-o-tron 1.0.0 normalisation → schema defaults and validation → each
// provider and augmenter against its own type's schema. Every problem is
// collected with its path, so `gatehouse config check` can list them all.
import { isAbsolute } from "node:path";
import { availableParallelism } from "node:os";
import { existsSync, readFileSync } from "node:fs";
import { Value, ValueErrorType, type ValueError } from "@sinclair/typebox/value";
import type { TSchema } from "@sinclair/typebox";
import { parseDocument } from "yaml";
import { ConfigSchema, type GatehouseConfig } from "./schema.ts";
import { applyEnvOverrides, resolveSecretFiles, substituteVariables, type Env } from "./environment.ts";
import { findProviderType, plannedProviderTypes, providerTypes } from "../providers/registry.ts";
import { augmenterTypes, findAugmenterType, plannedAugmenterTypes } from "../augmenters/registry.ts";
import { BROWSER_HANDLE_PREFIX, REFRESH_TOKEN_PREFIX } from "../tokens/format.ts";
import { normaliseLogFormat, normaliseLogLevel } from "../log.ts";
import { configuredKeyProblems } from "../keys/configured.ts";
import { GATEHOUSE_SERVICE } from "../tokens/scopes.ts";
import { ACCESS_TOKEN_AUDIENCE } from "../sessions/access-tokens.ts";
import { trustedProxyProblems } from "../identity/trusted-proxies.ts";
import { CONTROL_CHARACTERS } from "../identity/credentials.ts";
import { pgStoreProblems } from "../store/pg/url.ts";
import type { SecretFile } from "../secret-files.ts";
import { tlsPaths } from "../tls.ts";
import { defaultMasterKeyFile } from "../keys/master-key.ts";
import { unsharedMasterKey } from "../keys/open.ts";
import { ssoProblems } from "./sso.ts";
import { configuredKeys, masterKeySettings, sharedSecrets, signingAlgorithm } from "./policies.ts";
import { accessProblems } from "../access/rules.ts";
import { findUnknownKeys, type UnknownKey } from "./unknown-keys.ts";

function isPublicUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === "https:" || url.protocol === "http:") && url.search === "" && url.hash === "" && url.username === "";
  } catch {
    return false;
  }
}

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid configuration (${source}):\n${problems.map((problem) => `  - ${problem}`).join("\n")}`);
  }
}

export interface LoadedConfig {
  config: GatehouseConfig;
  /** Where it came from: a file path, or "development default". */
  source: string;
  warnings: string[];
  /** Weaknesses `serve` runs with for compatibility (a short shared secret, a hidden access rule): warnings too, listed first. */
  weaknesses: string[];
  /** The files of secrets it reads (keys, pass phrases, `*_file`): `serve` and `config check` warn about those others may read. */
  secretFiles: SecretFile[];
  /** Whether to listen on TCP (server.host and server.port): always, unless server.socket is set and no port was given. */
  listensOnTcp?: boolean;
}

/** `--config`, else GATEHOUSE_CONFIG, else AOT_CONFIG_PATH, else ./config.yaml (if present). */
export function resolveConfigPath(explicit: string | undefined, env: Env): { path: string; explicit: boolean } | null {
  // An empty variable (compose files often set one to "") counts as unset.
  const chosen = explicit || env.GATEHOUSE_CONFIG || env.AOT_CONFIG_PATH;
  if (chosen) return { path: chosen, explicit: true };
  return existsSync("./config.yaml") ? { path: "./config.yaml", explicit: false } : null;
}

export interface LoadOptions {
  /** Unknown keys are errors (`config check --strict`), as with `config.strict: true` in the file. */
  strict?: boolean;
}

export function loadConfigFile(path: string, env: Env = process.env, options: LoadOptions = {}): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(path, [`cannot read the config file: ${(error as NodeJS.ErrnoException).code ?? "error"}`]);
  }
  return loadConfigText(text, path, env, options);
}

export function loadConfigText(text: string, source: string, env: Env = process.env, options: LoadOptions = {}): LoadedConfig {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      source,
      document.errors.map((error) => `YAML: ${error.message.split("\n")[0]}`),
    );
  }
  const raw = document.toJS({ maxAliasCount: 100 }) as unknown;
  if (raw === null || raw === undefined) throw new ConfigError(source, ["the file is empty"]);
  if (typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError(source, ["the top level must be a mapping of sections"]);
  return buildConfig(raw as Record<string, unknown>, source, env, options);
}

const topLevelKeys = new Set(Object.keys(ConfigSchema.properties));

/** Walked against their own type's schema (validatePlugin). */
const PLUGIN_LISTS = new Set(["providers", "augmenters"]);

export function buildConfig(raw: Record<string, unknown>, source: string, env: Env = process.env, options: LoadOptions = {}): LoadedConfig {
  const problems: string[] = [];
  const warnings: string[] = [];
  const secretFiles: SecretFile[] = [];
  let value = substituteVariables(structuredClone(raw) as never, env, "", problems) as Record<string, any>;
  applySessionLifetimeVariables(value, env);
  applyEnvOverrides(value as never, env, topLevelKeys, problems, secretFiles);
  value = resolveSecretFiles(value as never, "", problems, secretFiles) as Record<string, any>;
  // YAML reads `version: 1.0` as a number; the schema wants the string.
  if (typeof value.version === "number") value.version = String(value.version);
  // Tiled's convention for a list in one variable: GATEHOUSE_JWT__SECRETS='new;old'.
  if (typeof value.jwt?.secrets === "string") value.jwt.secrets = value.jwt.secrets.split(";").filter(Boolean);
  // Before defaults are filled in: what the file (and the environment) said, `secret_file` already read.
  const unknownKeys = findUnknownKeys(ConfigSchema, value, "", PLUGIN_LISTS);

  if (value.logging && typeof value.logging === "object") {
    value.logging.level = normaliseLogLevel(value.logging.level);
    if (value.logging.format !== undefined) value.logging.format = normaliseLogFormat(value.logging.format);
  }

  if (value.bind_address !== undefined) {
    const parsed = parseBindAddress(String(value.bind_address));
    if (typeof parsed === "string") problems.push(`bind_address: ${parsed}`);
    else value.server = { ...(typeof value.server === "object" ? value.server : {}), ...parsed };
  }

  // auth-o-tron 0.3.7 keeps its tokens in MongoDB: say what to do instead of a bare "not supported".
  const mongo = value.store && typeof value.store === "object" && value.store.type === "mongo";
  if (mongo) {
    problems.push(
      'store.type: "mongo" is not supported; use sqlite or postgres. auth-o-tron\'s MongoDB tokens can be brought over: ' +
        "mongoexport its tokens and users collections, then gatehouse tokens import TOKENS.json --users USERS.json (docs/migrating.md)",
    );
    value.store = { ...value.store, type: "sqlite" }; // the rest of the file is still checked
  }
  // server.socket alone listens on the socket alone; with a port given (or bind_address), on both.
  const portGiven = value.server !== null && typeof value.server === "object" && value.server.port !== undefined;
  problems.push(...validate(ConfigSchema, value, ""));
  if (Array.isArray(value.providers)) {
    value.providers = value.providers.map((entry: unknown, index: number) =>
      validatePlugin(entry, `providers[${index}]`, problems, findProviderType, providerTypes, plannedProviderTypes, "provider", warnings, unknownKeys),
    );
    problems.push(...duplicateNames(value.providers, "providers"));
  }
  if (Array.isArray(value.augmenters)) {
    value.augmenters = value.augmenters.map((entry: unknown, index: number) =>
      validatePlugin(entry, `augmenters[${index}]`, problems, findAugmenterType, augmenterTypes, plannedAugmenterTypes, "augmenter", warnings, unknownKeys),
    );
    problems.push(...duplicateNames(value.augmenters, "augmenters"));
  }
  const config = value as GatehouseConfig;
  const weaknesses: string[] = [];
  if (problems.length === 0) problems.push(...semanticProblems(config, warnings, weaknesses, env), ...socketProblems(config));
  const strict = options.strict === true || config.config?.strict === true;
  for (const unknown of unknownKeys) (unknown.closed || strict ? problems : warnings).push(unknown.message);
  if (problems.length > 0) throw new ConfigError(source, problems);
  const listensOnTcp = !config.server.socket || portGiven;
  return { config, source, warnings: [...weaknesses, ...warnings], weaknesses, secretFiles: [...secretFiles, ...keyFiles(config, env)], listensOnTcp };
}

/** The TLS private key and its pass phrase, and the master key file, that this config uses (those that exist). */
function keyFiles(config: GatehouseConfig, env: Env): SecretFile[] {
  const files: SecretFile[] = [];
  if (config.tls) {
    try {
      const paths = tlsPaths(config.tls, config.server);
      files.push({ field: "tls.key", path: paths.key });
      if (paths.passphrase) files.push({ field: "tls.passphrase_file", path: paths.passphrase });
    } catch {
      // No certificate found: serve stops saying so (tls.ts).
    }
  }
  if (config.keys.master_key_file) files.push({ field: "keys.master_key_file", path: config.keys.master_key_file });
  else if (!env.GATEHOUSE_MASTER_KEY && config.store.enabled && config.store.type === "sqlite" && config.store.path !== ":memory:") {
    const made = defaultMasterKeyFile(config.store.path);
    if (existsSync(made)) files.push({ field: "master key", path: made });
  }
  return files;
}

/** The session lifetimes, settable from the environment by their own names as in Tiled. */
export const SESSION_LIFETIMES = ["access_token_max_age", "refresh_token_max_age", "session_max_age"] as const;

/**
 * GATEHOUSE_ACCESS_TOKEN_MAX_AGE (and the two others), else Tiled's
 * TILED_ACCESS_TOKEN_MAX_AGE, set `authentication.*`. Applied before the
 * generic overrides, so GATEHOUSE_AUTHENTICATION__ACCESS_TOKEN_MAX_AGE, which
 * names the field itself, wins over both.
 */
function applySessionLifetimeVariables(value: Record<string, any>, env: Env): void {
  for (const key of SESSION_LIFETIMES) {
    const name = key.toUpperCase();
    const raw = env[`GATEHOUSE_${name}`] ?? env[`TILED_${name}`];
    if (raw === undefined) continue;
    const section = value.authentication;
    value.authentication = { ...(section && typeof section === "object" && !Array.isArray(section) ? section : {}), [key]: raw };
  }
}

/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash output. */
export const MIN_SECRET_BYTES = 32;

/** server.socket: a path of its own, for one process. */
function socketProblems(config: GatehouseConfig): string[] {
  const { socket, workers } = config.server;
  if (!socket) return [];
  const problems: string[] = [];
  if (!isAbsolute(socket)) problems.push(`server.socket: "${socket}" must be an absolute path`);
  if ((workers === "auto" ? availableParallelism() : workers) > 1) {
    problems.push(
      "server.socket: one socket serves one process; with server.workers above 1, run one Gatehouse per socket (each its own server.socket) " +
        "and list them all in nginx's upstream, or listen on TCP (server.port) for the workers",
    );
  }
  return problems;
}

function semanticProblems(config: GatehouseConfig, warnings: string[], weaknesses: string[], env: Env): string[] {
  const problems: string[] = [];
  const secrets = sharedSecrets(config);
  const alg = signingAlgorithm(config);
  const configured = configuredKeys(config);
  if (configured) {
    problems.push(...configuredKeyProblems(configured));
    if (config.jwt.alg && config.jwt.alg !== "RS256") problems.push(`jwt.alg: ${config.jwt.alg} cannot sign with jwt.private_key, an RSA key (RS256)`);
    if (secrets.length > 0) warnings.push("jwt.secret: not used, jwt.private_key signs (RS256)");
    secrets.length = 0; // neither required nor checked
  } else if (config.jwt.kid !== undefined) {
    problems.push("jwt.kid: is only used with jwt.private_key (auth-o-tron 0.4.0's RS256 key), which is not set");
  } else if (config.jwt.additional_public_keys.length > 0) {
    problems.push("jwt.additional_public_keys: are only used with jwt.private_key, which is not set");
  }
  if (configured) {
    // The key is the config's own; the store is not needed for it.
  } else if (alg === "HS256" && secrets.length === 0) {
    problems.push("jwt.secret: is required with jwt.alg HS256 (or jwt.secrets, jwt.secret_file, GATEHOUSE_JWT__SECRET)");
  }
  if (!configured && alg !== "HS256" && !config.store.enabled) {
    problems.push(`jwt.alg: ${alg} keeps its keys in the store, which is disabled (store.enabled: false); use jwt.secret`);
  }
  if (!configured && alg !== "HS256" && secrets.length > 0) warnings.push(`jwt.secret: not used, jwt.alg is ${alg} (managed keys)`);
  if (alg === "HS256" && !config.jwt.allow_short_secret) {
    secrets.forEach((secret, index) => {
      if (Buffer.byteLength(secret) < MIN_SECRET_BYTES) {
        weaknesses.push(
          `jwt.${config.jwt.secret === secret ? "secret" : `secrets[${index}]`}: shorter than ${MIN_SECRET_BYTES} bytes, easy to guess offline from any JWT; use a longer one (openssl rand -hex 32) or set jwt.allow_short_secret: true`,
        );
      }
    });
  }
  if (config.store.enabled && config.store.type === "postgres") {
    problems.push(...pgStoreProblems(config.store));
    // Managed keys are sealed with the master key: every instance on the database needs the same one.
    // The same test as serve's (keys/open.ts), as a warning: migrate and store copy need no key; serve refuses to start without one.
    if (!configured && unsharedMasterKey(masterKeySettings(config), env.GATEHOUSE_MASTER_KEY, "managed signing keys") !== null) {
      warnings.push("store.type: postgres with managed signing keys needs the same master key on every instance: set GATEHOUSE_MASTER_KEY or keys.master_key_file");
    }
  } else if (config.store.enabled && config.store.url !== undefined) {
    warnings.push("store.url: not used, store.type is sqlite (store.path)");
  }
  if (config.tokens.default_expires_in > config.tokens.max_expires_in) {
    problems.push(
      `tokens.default_expires_in: ${config.tokens.default_expires_in} is longer than tokens.max_expires_in (${config.tokens.max_expires_in})`,
    );
  }
  if (config.tokens.prefix === REFRESH_TOKEN_PREFIX || config.tokens.prefix === BROWSER_HANDLE_PREFIX) {
    problems.push(`tokens.prefix: "${config.tokens.prefix}" is the prefix of session refresh tokens or browser handles; choose another`);
  }
  if (config.public_url !== undefined && !isPublicUrl(config.public_url)) {
    problems.push(`public_url: "${config.public_url}" is not an http(s) URL without a query or fragment, such as https://auth.example.org`);
  }
  const identityProviders = config.providers.filter((entry) => entry.type === "oidc");
  if (identityProviders.length > 0 && config.public_url === undefined) {
    // The redirect URI registered at the provider must be the one Gatehouse sends: built from each request, it changes with the Host.
    warnings.push(
      `public_url: not set, so the redirect URI of ${identityProviders.map((entry) => entry.name).join(", ")} is built from each request ` +
        "(or a trusted proxy's headers); set it to the address people use, e.g. https://auth.example.org",
    );
  }
  if (identityProviders.length > 0 && !config.store.enabled) {
    problems.push(`providers: ${identityProviders.map((entry) => entry.name).join(", ")} (oidc) make sessions, which need the store (store.enabled: true)`);
  }
  problems.push(...ssoProblems(config, warnings));
  problems.push(...trustedProxyProblems(config.trusted_proxies));
  problems.push(...trustedProxyProblems(config.regulation.trusted_proxies, "regulation.trusted_proxies"));
  config.providers.forEach((entry, index) => problems.push(...identityControlCharacters(entry, `providers[${index}]`)));
  config.augmenters.forEach((entry, index) => problems.push(...identityControlCharacters(entry, `augmenters[${index}]`)));
  if (config.jwt.aud === ACCESS_TOKEN_AUDIENCE) {
    problems.push(`jwt.aud: "${ACCESS_TOKEN_AUDIENCE}" is the audience of sessions' access tokens, which backends must refuse; choose another`);
  }
  if (config.metrics.enabled && config.metrics.port === config.server.port && config.server.port !== 0) {
    problems.push(`metrics.port: ${config.metrics.port} is also server.port; the metrics port must be another one (or metrics.enabled: false)`);
  }
  if (config.tls && !config.tls.dir && (!config.tls.cert || !config.tls.key)) problems.push("tls: give cert and key, or dir");
  if (config.tls?.port !== undefined && config.tls.port !== 0 && config.tls.port === config.server.port) {
    problems.push(`tls.port: ${config.tls.port} is server.port too; HTTP and HTTPS need two ports`);
  }
  config.providers.forEach((provider, index) => {
    if (provider.type === "trusted-header" && !config.store.enabled) {
      problems.push(`providers[${index}]: a trusted-header provider keeps its accounts in the store, which is disabled (store.enabled: false)`);
    }
  });
  if (config.providers.length === 0) warnings.push("providers: none configured, every request will be refused");
  const serviceNames = new Set<string>();
  config.services.forEach((service, index) => {
    if (serviceNames.has(service.name)) problems.push(`services[${index}].name: duplicate service "${service.name}"`);
    // A token's scopes are an object keyed by service: this key would set its prototype, not name a service.
    if (service.name === "__proto__") problems.push(`services[${index}].name: "__proto__" cannot name a service`);
    serviceNames.add(service.name);
    if (service.name === GATEHOUSE_SERVICE.name && service.scopes.join() !== GATEHOUSE_SERVICE.scopes.join()) {
      problems.push(`services[${index}]: "${GATEHOUSE_SERVICE.name}" is Gatehouse's own API, with the scopes ${GATEHOUSE_SERVICE.scopes.join(", ")}; leave it out`);
    }
  });
  // What a token may do on Gatehouse itself is a service like the others (tokens/scopes.ts).
  if (!serviceNames.has(GATEHOUSE_SERVICE.name)) config.services.push({ name: GATEHOUSE_SERVICE.name, scopes: [...GATEHOUSE_SERVICE.scopes] });
  // Access rules: invalid ones refuse the config; a rule an earlier one hides is a warning (config check and serve alike).
  const access = accessProblems(config.access, config.services);
  problems.push(...access.problems);
  weaknesses.push(...access.shadowed);
  return problems;
}

/** Fields whose values become a user's identity: usernames, roles (an augmenter's map of them too) and attributes. */
const IDENTITY_FIELDS = new Set(["username", "usernames", "roles", "attributes"]);

/**
 * Roles, attributes and usernames the config gives users end up in response
 * headers (X-Auth-Roles) and log lines: one with a control character (CR, LF…)
 * would make every answer for that user fail, so it is refused here, naming
 * where it is (never the value). The pipeline checks again what augmenters add.
 */
function identityControlCharacters(value: unknown, path: string, inIdentity = false): string[] {
  if (typeof value === "string") {
    return inIdentity && CONTROL_CHARACTERS.test(value) ? [`${path}: contains a control character (such as a line break); remove it`] : [];
  }
  if (!value || typeof value !== "object") return [];
  const problems: string[] = [];
  for (const [key, item] of Object.entries(value)) {
    const itemPath = Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`;
    const identity = inIdentity || IDENTITY_FIELDS.has(key);
    if (identity && !Array.isArray(value) && CONTROL_CHARACTERS.test(key)) {
      problems.push(`${path}: the key ${JSON.stringify(key).slice(0, 60)} contains a control character; remove it`);
    }
    problems.push(...identityControlCharacters(item, itemPath, identity));
  }
  return problems;
}

/** "host:port", "[::1]:port" or "::1:port", as auth-o-tron accepts. */
export function parseBindAddress(address: string): { host: string; port: number } | string {
  const colon = address.lastIndexOf(":");
  if (colon < 0) return `must be host:port, got "${address}"`;
  const host = address.slice(0, colon).replace(/^\[/, "").replace(/\]$/, "");
  const portText = address.slice(colon + 1);
  if (host === "") return `has an empty host, got "${address}"`;
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) return `has an invalid port, got "${address}"`;
  return { host, port: Number(portText) };
}

function validatePlugin(
  entry: unknown,
  path: string,
  problems: string[],
  find: (type: string) => { schema: TSchema; check?: (config: any) => string[]; warnings?: (config: any) => string[] } | undefined,
  known: { type: string }[],
  planned: string[],
  kind: string,
  warnings: string[],
  unknownKeys: UnknownKey[],
): unknown {
  if (!entry || typeof entry !== "object") return entry; // already reported by the top-level schema
  const type = (entry as { type?: unknown }).type;
  if (typeof type !== "string") return entry;
  const plugin = find(type);
  const supported = known.map((candidate) => candidate.type).join(", ");
  if (!plugin) {
    problems.push(
      planned.includes(type)
        ? `${path}.type: the ${kind} type "${type}" is not available in this version yet; supported: ${supported}`
        : `${path}.type: unknown ${kind} type "${type}"; supported: ${supported}`,
    );
    return entry;
  }
  unknownKeys.push(...findUnknownKeys(plugin.schema, entry, path));
  const value = structuredClone(entry);
  const found = validate(plugin.schema, value, path);
  problems.push(...found);
  if (found.length === 0 && plugin.check) problems.push(...plugin.check(value).map((problem) => `${path}.${problem}`));
  if (found.length === 0 && plugin.warnings) warnings.push(...plugin.warnings(value).map((warning) => `${path}.${warning}`));
  return value;
}

/** Fills defaults, converts env strings to numbers/booleans, and lists errors with their paths. */
function validate(schema: TSchema, value: unknown, basePath: string): string[] {
  Value.Default(schema, value);
  const converted = Value.Convert(schema, value);
  if (converted !== value && value && typeof value === "object") Object.assign(value, converted);
  const problems = new Map<string, string>();
  for (const error of Value.Errors(schema, value)) {
    // An unexpected key is reported by findUnknownKeys, with the key it may have meant.
    if (error.type === ValueErrorType.ObjectAdditionalProperties) continue;
    const path = joinPointer(basePath, error.path);
    if (!problems.has(path)) problems.set(path, `${path || "(root)"}: ${describe(error, isSecretPath(path))}`);
  }
  return [...problems.values()];
}

const SECRET_PATH = /(secret|password|key|token)[^.]*$/i;
/** store.url holds the database password. */
const isSecretPath = (path: string) => SECRET_PATH.test(path) || path === "store.url";

/** The offending value is quoted to help, except under a secret-looking key. */
function describe(error: ValueError, secret: boolean): string {
  const schema = error.schema as { anyOf?: { const?: unknown }[] };
  const shown = secret ? "a value that is not shown" : typeof error.value === "string" ? `"${error.value}"` : JSON.stringify(error.value);
  if (schema.anyOf?.every((option) => option.const !== undefined)) {
    return `${shown} is not supported; use ${schema.anyOf.map((option) => String(option.const)).join(" or ")}`;
  }
  if (error.value === undefined) return "is required";
  return `${error.message.replace(/^Expected/, "expected")}, got ${shown}`;
}

function joinPointer(basePath: string, pointer: string): string {
  let path = basePath;
  for (const segment of pointer.split("/").slice(1)) {
    const key = segment.replace(/~1/g, "/").replace(/~0/g, "~");
    path = /^\d+$/.test(key) ? `${path}[${key}]` : path ? `${path}.${key}` : key;
  }
  return path;
}

function duplicateNames(entries: unknown[], section: string): string[] {
  const seen = new Set<string>();
  const problems: string[] = [];
  entries.forEach((entry, index) => {
    const name = (entry as { name?: unknown })?.name;
    if (typeof name !== "string") return;
    if (seen.has(name)) problems.push(`${section}[${index}].name: duplicate name "${name}"`);
    seen.add(name);
  });
  return problems;
}
