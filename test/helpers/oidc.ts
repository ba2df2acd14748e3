// A real OpenID provider on loopback for the jwt, openid-offline and
// ecmwf-token-generator suites: panva's oidc-provider (certified), laid out
// as Keycloak is (/realms/<realm>/protocol/openid-connect/{certs,token,token/introspect}),
// with a public client holding offline tokens, a confidential client that
// introspects, and JWT access tokens signed with keys the test holds, so it
// can also sign tokens the provider would not issue (expired, wrong issuer).
// Key rotation restarts the provider with new keys on the same port.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import Provider from "oidc-provider";
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK, type JWTPayload } from "jose";

export const REALM = "test";
export const PUBLIC_CLIENT = "public-client";
export const PRIVATE_CLIENT = "private-client";
export const PRIVATE_SECRET = "private-client-secret";
export const RESOURCE = "urn:gatehouse:api";

export interface Account {
  username: string;
  roles: string[];
  clientRoles?: Record<string, string[]>;
}

export interface TestIdp {
  /** http://127.0.0.1:PORT */
  origin: string;
  /** The issuer, http://127.0.0.1:PORT/realms/test */
  issuer: string;
  certUri: string;
  /** JWKS requests served so far. */
  jwksFetches: number;
  /** Paths of every request served (introspection, token, certs). */
  requests: string[];
  /** The kid signing now. */
  kid: string;
  accounts: Map<string, Account>;
  /** An offline token (refresh token with offline_access) of this account, issued by the provider itself. */
  offlineToken(accountId: string, scope?: string): Promise<string>;
  /** A token signed with the current key (or the given kid's key), claims as given. */
  sign(claims: JWTPayload, options?: { kid?: string; alg?: string }): Promise<string>;
  /** Claims of an access token as the provider would issue for this account. */
  accessClaims(accountId: string, lifetimeSeconds?: number): JWTPayload;
  /** Replaces the signing key: the new key signs and is the only one published. */
  rotate(): Promise<void>;
  /** Stops answering (connections refused) / answers again on the same port. */
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

interface SigningKey {
  kid: string;
  privateJwk: JWK;
}

async function newKey(index: number): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  return { kid: `key-${index}-${crypto.randomUUID().slice(0, 8)}`, privateJwk: { ...(await exportJWK(privateKey)), alg: "RS256", use: "sig" } };
}

export async function startIdp(): Promise<TestIdp> {
  const accounts = new Map<string, Account>();
  let keys = [await newKey(1)];
  let server: Server | null = null;
  let port = 0;
  let provider: Provider;
  const requests: string[] = [];

  const build = (issuer: string) => {
    const routes = (path: string) => `/realms/${REALM}/protocol/openid-connect${path}`;
    const built = new Provider(issuer, {
      clients: [
        {
          client_id: PUBLIC_CLIENT,
          token_endpoint_auth_method: "none",
          grant_types: ["refresh_token", "authorization_code"],
          redirect_uris: ["http://127.0.0.1/callback"],
          response_types: ["code"],
        },
        { client_id: PRIVATE_CLIENT, client_secret: PRIVATE_SECRET, grant_types: [], redirect_uris: [], response_types: [] },
      ],
      jwks: { keys: keys.map((key) => ({ ...key.privateJwk, kid: key.kid })) },
      routes: { jwks: routes("/certs"), token: routes("/token"), introspection: routes("/token/introspect") },
      scopes: ["openid", "offline_access"],
      features: {
        devInteractions: { enabled: false },
        introspection: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => RESOURCE,
          useGrantedResource: () => true,
          getResourceServerInfo: () => ({ scope: "openid offline_access", accessTokenFormat: "jwt", audience: RESOURCE }),
        },
      },
      // Keycloak's default: an offline token is not consumed by its use.
      rotateRefreshToken: () => false,
      findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub }) }),
      extraTokenClaims: (_ctx: unknown, token: unknown) => {
        const account = accounts.get((token as { accountId?: string }).accountId ?? "");
        return account
          ? { preferred_username: account.username, realm_access: { roles: account.roles }, resource_access: Object.fromEntries(Object.entries(account.clientRoles ?? {}).map(([client, roles]) => [client, { roles }])) }
          : {};
      },
      ttl: { AccessToken: 300, RefreshToken: 86400, Grant: 86400, IdToken: 300 },
    });
    built.on("server_error", () => {});
    return built;
  };

  const listen = async () => {
    server = createServer((request, response) => {
      requests.push(request.url ?? "");
      provider.callback()(request, response);
    });
    await new Promise<void>((resolve) => server!.listen(port, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  };
  const close = async () => {
    if (!server) return;
    const closing = server;
    server = null;
    closing.closeAllConnections();
    await new Promise<void>((resolve) => closing.close(() => resolve()));
  };

  await listen();
  const origin = `http://127.0.0.1:${port}`;
  const issuer = `${origin}/realms/${REALM}`;
  provider = build(issuer);
  const privateKeyOf = async (kid?: string) => {
    const key = kid ? keys.find((candidate) => candidate.kid === kid) : keys[0];
    if (!key) throw new Error(`no key ${kid}`);
    return importJWK(key.privateJwk, "RS256");
  };

  const idp: TestIdp = {
    origin,
    issuer,
    certUri: `${issuer}/protocol/openid-connect/certs`,
    get jwksFetches() {
      return requests.filter((path) => path.endsWith("/certs")).length;
    },
    requests,
    get kid() {
      return keys[0].kid;
    },
    accounts,
    async offlineToken(accountId, scope = "openid offline_access") {
      const client = await provider.Client.find(PUBLIC_CLIENT);
      const grant = new provider.Grant({ accountId, clientId: PUBLIC_CLIENT });
      grant.addOIDCScope(scope);
      grant.addResourceScope(RESOURCE, scope);
      const grantId = await grant.save();
      const token = new provider.RefreshToken({ accountId, grantId, client: client!, scope, gty: "authorization_code", resource: RESOURCE } as never);
      return token.save();
    },
    async sign(claims, options = {}) {
      const kid = options.kid ?? keys[0].kid;
      return new SignJWT(claims)
        .setProtectedHeader({ alg: options.alg ?? "RS256", kid, typ: "at+jwt" })
        .sign(await privateKeyOf(kid));
    },
    accessClaims(accountId, lifetimeSeconds = 300) {
      const account = accounts.get(accountId)!;
      const now = Math.floor(Date.now() / 1000);
      return {
        iss: issuer,
        sub: accountId,
        aud: RESOURCE,
        iat: now,
        exp: now + lifetimeSeconds,
        scope: "openid offline_access",
        preferred_username: account.username,
        realm_access: { roles: account.roles },
      };
    },
    async rotate() {
      keys = [await newKey(keys.length + 1)];
      const wasUp = server !== null;
      await close();
      provider = build(issuer);
      if (wasUp) await listen();
    },
    down: close,
    async up() {
      if (!server) await listen();
    },
    stop: close,
  };
  return idp;
}
