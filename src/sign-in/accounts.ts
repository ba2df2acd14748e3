// The Gatehouse account of someone an identity provider vouches for. Keyed
// by (provider, issuer, subject), never by e-mail or by the username alone:
// an e-mail address or a username can be reassigned at the provider, and
// another provider may know a different person by the same name.
//
// - The first sign-in makes the account, named by the provider's username
//   claim, in the provider's realm. A username that is already taken in that
//   realm (by a password user, another provider, another subject) is refused
//   with words, never merged silently: see docs/single-sign-on.md for how an operator
//   resolves it.
// - Every sign-in records the roles and attributes the provider gave now:
//   a session refresh keeps those (providers/oidc.ts rememberedUser).
// - The account keeps its first username even when the claim changes later,
//   so tokens and sessions keep their owner.
import type { Logger } from "../log.ts";
import type { StoreBackend } from "../store/backend.ts";
import { SignInRefusal, sealedTokenId, type ExternalIdentity } from "../providers/oidc.ts";
import type { Sealer } from "../providers/provider.ts";

export interface LinkedAccount {
  username: string;
  realm: string;
  roles: string[];
  attributes: Record<string, string>;
}

export async function linkExternalAccount(
  store: StoreBackend,
  logger: Logger,
  provider: { name: string; realm: string },
  identity: ExternalIdentity,
  sealer: Sealer | null = null,
  now = Date.now(),
): Promise<LinkedAccount> {
  const key = { provider: provider.name, issuer: identity.issuer, subject: identity.subject };
  // The provider's refresh token (recheck_on_refresh) is kept sealed with the master key, sealed before the
  // transaction (which awaits store queries only).
  const refreshTokenSealed =
    identity.refreshToken && sealer ? await sealer.seal(identity.refreshToken, sealedTokenId(key.provider, key.issuer, key.subject)) : null;
  const outcome = await store.transaction(async (q) => {
    const known = await q.findExternalAccount(key.provider, key.issuer, key.subject);
    if (known) {
      await q.updateExternalAccount(key, identity.roles, identity.attributes, now, refreshTokenSealed);
      await q.markUsersSeen(new Map([[known.userId, now]]));
      return { username: known.username, created: false };
    }
    if ((await q.findUserId(identity.username, provider.realm)) !== undefined) return null;
    const userId = await q.upsertUser(identity.username, provider.realm, now);
    await q.insertExternalAccount({ ...key, userId, roles: identity.roles, attributes: identity.attributes, refreshTokenSealed, createdAt: now, updatedAt: now });
    return { username: identity.username, created: true };
  });
  if (!outcome) {
    logger.warn("sign_in.username_taken", { provider: provider.name, realm: provider.realm, username: identity.username });
    throw new SignInRefusal(
      409,
      `The username "${identity.username}" is already used by another account in the realm "${provider.realm}". ` +
        "Nothing was merged; ask your administrator to resolve it.",
      "username_taken",
    );
  }
  if (outcome.created) logger.info("sign_in.account_created", { provider: provider.name, realm: provider.realm, username: outcome.username });
  return { username: outcome.username, realm: provider.realm, roles: identity.roles, attributes: identity.attributes };
}
