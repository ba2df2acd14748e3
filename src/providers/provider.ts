// The provider interface: one credential in, a user or "no" out.
// A new provider type is one file exporting a ProviderType, plus one line in
// ./registry.ts.
import { Type, type Static, type TObject, type TSchema } from "@sinclair/typebox";
import type { Credential, CredentialScheme } from "../identity/credentials.ts";
import type { User } from "../identity/user.ts";
import type { ClientAddress } from "../identity/client.ts";
import type { RequestContext } from "../identity/request.ts";
import type { Logger } from "../log.ts";
import type { StoreBackend } from "../store/backend.ts";
import type { MaybePromise } from "../identity/maybe-promise.ts";

/**
 * The realm of a provider whose users may be of any realm: Gatehouse's own
 * API tokens, whose user is the owner, in the owner's realm. The pipeline
 * checks the user's realm against X-Auth-Realm once such a provider succeeds,
 * and leaves it out of the WWW-Authenticate challenge.
 */
export const ANY_REALM = "*";

/**
 * What a provider throws when it cannot take a check now (argon2's queue is
 * full): the pipeline reports it as a timeout, which regulation counts as a
 * failed guess for a password, since a flood's guess is a guess all the same.
 */
export class ProviderBusy extends Error {}

export interface Provider {
  readonly name: string;
  readonly type: string;
  readonly realm: string;
  /**
   * The Authorization scheme this provider owns; `header` for a provider that
   * reads other headers (a trusted proxy's) and is tried when `presentIn` says so;
   * `external` for a sign-in provider (an identity provider the browser is sent
   * to, providers/oidc.ts), which no credential of a request ever matches.
   */
  readonly scheme: CredentialScheme | "external";
  /**
   * `header` providers only: whether this request carries their credential
   * (their headers, from a peer they trust). Asked once per request, so cheap.
   */
  presentIn?(request: RequestContext): boolean;
  /**
   * True when the credential is checked by a remote service. Gatehouse's own
   * tokens and JWTs are never sent to such providers (see identity/pipeline.ts),
   * and remote calls run under `auth.timeout_in_ms`.
   */
  readonly remote: boolean;
  /**
   * True when this provider's "no" cannot turn into a "yes" while the
   * process runs: config users (the config is reloaded as a whole), and
   * Gatehouse's own tokens (an unknown, expired or revoked one stays so).
   * /authenticate may then remember the refusal for `jwt.reuse_seconds`.
   * Absent for providers whose answer can change upstream at any moment (a
   * directory, a remote key service, an identity provider).
   */
  readonly lastingRefusals?: boolean;
  /**
   * True when this request's refusal does not hold for the same credential
   * in another request: an API token used from outside its networks works
   * from inside them, so that "no" must not be remembered.
   */
  refusedForNow?(request: RequestContext): boolean;
  /**
   * For remote providers whose credentials are themselves JWTs of an external
   * identity provider (jwt, openid-offline, ecmwf-token-generator): they are
   * offered JWTs, except those Gatehouse issued (its own `iss`).
   */
  readonly takesJwts?: boolean;
  /**
   * Present when /authenticate may answer the same Authorization header from
   * memory for `jwt.reuse_seconds` after a success, skipping the pipeline.
   * Absent: every request is checked afresh.
   */
  readonly reuse?: VerdictReuse;
  /**
   * The user, or null when the credential is not valid here. Answers
   * synchronously when it can (see identity/maybe-promise.ts). Throws or
   * rejects only on an internal or upstream error. `request` tells the
   * rest of the request: its headers, where it came from (API tokens record
   * it as their last use), the original request being checked.
   */
  authenticate(credential: Credential, signal: AbortSignal, request: RequestContext): MaybePromise<User | null>;
  /**
   * The user's current roles and attributes without a credential, for
   * providers that can tell (config users, a directory). Credentials Gatehouse
   * issued itself (API tokens, sessions) use it to re-read what the owner
   * holds now, so a removed role stops applying at once.
   */
  describeUser?(username: string, signal: AbortSignal): MaybePromise<User | null>;
  /**
   * For providers that cannot be asked again (an identity provider signed in
   * through the browser): the user as the provider described them at their
   * last sign-in, so that a session refresh keeps the roles it granted. Unlike
   * describeUser, it does not say the user still exists there.
   */
  rememberedUser?(username: string): MaybePromise<User | null>;
  /**
   * For identity providers configured to be asked again (oidc with
   * `recheck_on_refresh`): the user as the provider describes them now, null
   * when it no longer knows them (the session then ends, with what was made in
   * it). Asked at a session refresh only, never per request: it is a network
   * round trip to the provider.
   */
  recheck?(username: string, signal: AbortSignal): Promise<User | null>;
  /** Releases timers and connections at shutdown. */
  close?(): void;
}

export interface VerdictReuse {
  /**
   * Changes whenever a success given earlier may no longer hold (a
   * revocation); remembered answers from another stamp are not used. `now`:
   * the request's one clock read.
   */
  stamp(now: number): number;
  /**
   * What bounds this user's remembered success, and what each answer given
   * from it checks and records, found once when the success is remembered, so
   * that an answer from memory looks nothing up (an API token's: its expiry,
   * its networks, its last use).
   */
  lease?(user: User): VerdictLease | undefined;
}

/** See VerdictReuse.lease. */
export interface VerdictLease {
  /**
   * The stamp as it was before the credential was read, which the success is
   * remembered under: a revocation made while its answer was being made then
   * leaves it stale. Absent: the stamp when it is remembered.
   */
  stamp?: number;
  /** No later than this (ms since the epoch) may the success be reused: its token's expiry, say. Absent: no bound of its own. */
  until?: number;
  /** False when the remembered success must not answer this request (an API token used from outside its networks). */
  holdsFor?(request: RequestContext): boolean;
  /** Called each time the remembered success answers a request, e.g. to record a token's use. */
  reused?(client: ClientAddress, now: number): void;
}

/**
 * For providers whose verdicts cannot change while the process runs (config
 * users) or are cached anyway (remote key services).
 */
export const STABLE_VERDICTS: VerdictReuse = { stamp: () => 0 };

export interface ProviderContext {
  logger: Logger;
  /** Gatehouse's store, for providers that keep accounts (trusted-header); absent or null when `store.enabled` is false. */
  store?: StoreBackend | null;
  /** Seals with the master key what a provider keeps in the store (an identity provider's refresh token). */
  sealer?: Sealer | null;
}

/** AES-GCM under the master key; `id` is bound to the ciphertext, so a sealed value moved to another row does not open. */
export interface Sealer {
  seal(text: string, id: string): Promise<string>;
  unseal(sealed: string, id: string): Promise<string>;
}

export interface ProviderType<S extends TObject = TObject> {
  type: string;
  /** TypeBox schema of this provider's config entry; its `type` is a literal. */
  schema: S;
  create(config: Static<S>, context: ProviderContext): Provider;
  /** Problems the schema cannot express (one field or another), as "field: message"; `config check` lists them with the entry's path. */
  check?(config: Static<S>): string[];
  /** What `config check` and start-up point out without refusing (a deprecated field), as "field: message". */
  warnings?(config: Static<S>): string[];
}

/** Fields every provider entry has, as auth-o-tron names them. */
export function providerSchema<T extends Record<string, TSchema>>(type: string, description: string, fields: T) {
  return Type.Object(
    {
      type: Type.Literal(type, { description: "The kind of provider" }),
      name: Type.String({ minLength: 1, description: "Unique name, used in logs and metrics" }),
      realm: Type.String({ minLength: 1, description: "Realm of the users this provider authenticates" }),
      ...fields,
    },
    { description, additionalProperties: true },
  );
}
