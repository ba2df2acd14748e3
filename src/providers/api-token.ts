// Gatehouse's own API tokens (Bearer). Built in, not configured: app.ts adds
// it when the store is enabled. The user is the token's owner, in the owner's
// realm; the owner's roles and attributes are read again on every use from
// the configured providers of that realm (then the augmenters run, as for any
// user), so a role removed from the owner stops applying at once. The JWT's
// `scopes` claim carries the token's scopes.
//
// There is deliberately no cache of valid tokens: verification is one indexed
// SQLite read (≈155,000/s), and a revoked token must fail on the next request.
import type { Credential } from "../identity/credentials.ts";
import type { RequestContext } from "../identity/request.ts";
import { createUser, type User } from "../identity/user.ts";
import { andThen, isPromise, type MaybePromise } from "../identity/maybe-promise.ts";
import type { Logger } from "../log.ts";
import type { TokenService, VerifiedToken } from "../tokens/service.ts";
import { allScopes } from "../tokens/scopes.ts";
import { ANY_REALM, type Provider } from "./provider.ts";

export interface ApiTokenProvider extends Provider {
  /** The token a user returned by this provider authenticated with. */
  tokenOf(user: User): VerifiedToken | undefined;
}

export function createApiTokenProvider(options: {
  tokens: TokenService;
  /** The configured providers: those of the owner's realm that can describe a user tell its roles and attributes. */
  providers: readonly Provider[];
  logger: Logger;
}): ApiTokenProvider {
  const { tokens, logger } = options;
  const describers = new Map<string, Provider[]>();
  for (const provider of options.providers) {
    if (!provider.describeUser) continue;
    describers.set(provider.realm, [...(describers.get(provider.realm) ?? []), provider]);
  }
  // Realms of identity providers signed in through the browser: the owner as the provider described them at their last sign-in.
  const rememberers = new Map<string, Provider>();
  for (const provider of options.providers) if (provider.rememberedUser && !rememberers.has(provider.realm)) rememberers.set(provider.realm, provider);
  const grants = new WeakMap<User, VerifiedToken>();
  // What an unrestricted token carries: every configured service and scope (the config does not change while running).
  const unrestricted = Object.freeze(allScopes(tokens.policy.services));

  /**
   * The owner as the realm's providers know it now; null when they all say
   * the owner no longer exists. A realm whose providers cannot describe users
   * gives the owner as an identity provider last described them (oidc), else
   * the bare owner (remote key services); augmenters add the rest.
   */
  function describeOwner(token: VerifiedToken, signal: AbortSignal, from = 0): MaybePromise<User | null> {
    const candidates = describers.get(token.realm);
    if (!candidates) {
      const rememberer = rememberers.get(token.realm);
      return rememberer ? rememberer.rememberedUser!(token.username) : createUser({ username: token.username, realm: token.realm });
    }
    if (from >= candidates.length) {
      logger.debug("auth.api_token.owner_unknown", { id: token.id, username: token.username, realm: token.realm });
      return null;
    }
    return andThen(candidates[from].describeUser!(token.username, signal), (owner) =>
      owner ? owner : describeOwner(token, signal, from + 1),
    );
  }

  /** The user a verified token stands for, now; null when it did not verify or its owner is gone. */
  function userOf(token: VerifiedToken | null, signal: AbortSignal, request: RequestContext): MaybePromise<User | null> {
    if (!token) return null;
    return andThen(describeOwner(token, signal), (owner) => {
      if (!owner) return null;
      const user = createUser({
        username: token.username,
        realm: token.realm,
        roles: owner.roles,
        attributes: owner.attributes,
        scopes: token.scopes ?? unrestricted,
      });
      grants.set(user, token);
      tokens.recordUse(token, request.client);
      return user;
    });
  }

  return {
    name: "api-tokens",
    type: "api-token",
    realm: ANY_REALM,
    scheme: "bearer",
    remote: false,
    lastingRefusals: true,
    authenticate(credential: Credential, signal: AbortSignal, request: RequestContext) {
      if (credential.scheme !== "bearer") return null;
      // No promise when the store answers at once (SQLite).
      const token = tokens.verify(credential.token, request);
      return isPromise(token) ? token.then((found) => userOf(found, signal, request)) : userOf(token, signal, request);
    },
    tokenOf: (user) => grants.get(user),
    // A token refused for the address it came from is not refused for good: the same secret from inside its networks works.
    refusedForNow: (request) => tokens.refusedForAddress(request),
    // A success may be reused briefly: the revocation stamp changes at once
    // on a revocation here, and within a millisecond of one made elsewhere;
    // never past the token's expiry; every reuse still records the token's use
    // (its lease holds the token, found once per remembered success).
    reuse: {
      stamp: (now) => tokens.revocationStamp(now),
      lease: (user) => {
        const token = grants.get(user);
        if (!token) return undefined;
        return {
          stamp: token.readAtStamp,
          // Never past the token's expiry, nor past the grace of a rotated-away token.
          until: Math.min(token.expiresAt ?? Number.POSITIVE_INFINITY, token.rotatedUntil ?? Number.POSITIVE_INFINITY),
          // A remembered success of a network-limited token answers only a request from inside its networks.
          holdsFor: token.networks ? (request) => tokens.usableFrom(token, request) : undefined,
          reused: (client, now) => tokens.recordUse(token, client, now),
        };
      },
    },
  };
}
