// A real OpenID provider for the single sign-on suites: panva's oidc-provider
// (certified) on loopback, with a login page of its own (a username field,
// "Sign in" and "Cancel"), laid out as Keycloak is. Consent is granted at
// once for the test's clients (first-party), and the scope claims (profile,
// e-mail, groups) go into the ID token, as Keycloak puts them.
//
// For tests without a browser, `nextLogin` signs the next person in without
// the page (an account id), or refuses (`"deny"`: access_denied). `tamper`
// rewrites the ID token the token endpoint answers with (signed by the
// provider's own key or any other), to play a provider that misbehaves.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import Provider from "oidc-provider";
import { SignJWT, decodeJwt, exportJWK, generateKeyPair, importJWK, type JWK, type JWTPayload } from "jose";

/** The client secret the suites register Gatehouse with at the test provider. */
export const CLIENT_SECRET = "gatehouse-client-secret-0123456789";

/** The suites' `oidc` provider entry (Keycloak-shaped, the groups claim as roles), with `extra` on top. */
export function exampleSsoProvider(idp: { issuer: string }, extra: Record<string, unknown> = {}) {
  return {
    type: "oidc",
    name: "example-sso",
    realm: "sso",
    display_name: "Example SSO",
    issuer: idp.issuer,
    client_id: "gatehouse",
    client_secret: CLIENT_SECRET,
    scopes: ["openid", "profile", "email", "groups"],
    roles_claim: "groups",
    ...extra,
  };
}

export interface SsoAccount {
  sub: string;
  preferred_username?: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
  groups?: string[];
}

export interface SsoClient {
  client_id: string;
  client_secret?: string;
  redirect_uris: string[];
}

export interface TamperedIdToken {
  /** Claims to change in (or, with undefined, remove from) the ID token the provider issued. */
  claims?: Record<string, unknown>;
  /** The header to sign with: another alg (HS256 with the client secret, none), another kid. */
  header?: Record<string, unknown>;
  /** Sign with this key instead of the provider's (a key nobody published). */
  key?: CryptoKey | Uint8Array;
}

export interface SsoIdp {
  origin: string;
  issuer: string;
  accounts: Map<string, SsoAccount>;
  /** Sign the next authorization in as this account without the page, or refuse it; null: show the page. */
  nextLogin: string | "deny" | null;
  /** Rewrites the next (and every later) ID token the token endpoint issues; null: leave them alone. */
  tamper: TamperedIdToken | null;
  /** Paths of every request served. */
  requests: string[];
  /** Registers the clients (their redirect URIs are known once Gatehouse listens). */
  configure(clients: SsoClient[]): void;
  /** Stops answering (connections refused) / answers again on the same port. */
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

const SIGNING_ALG = "RS256";

export async function startSsoIdp(options: { realm?: string } = {}): Promise<SsoIdp> {
  const realm = options.realm ?? "research";
  const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const kid = `sso-${crypto.randomUUID().slice(0, 8)}`;
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), alg: SIGNING_ALG, use: "sig", kid };
  const accounts = new Map<string, SsoAccount>();
  const requests: string[] = [];
  let provider: Provider | null = null;
  let server: Server | null = null;
  let port = 0;

  const build = (issuer: string, clients: SsoClient[]) => {
    const routes = (path: string) => `/realms/${realm}/protocol/openid-connect${path}`;
    const built = new Provider(issuer, {
      clients: clients.map((client) => ({
        ...client,
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: client.client_secret ? "client_secret_basic" : "none",
      })),
      jwks: { keys: [privateJwk] },
      cookies: { keys: ["sso-idp-test-cookie-key"] },
      routes: {
        authorization: routes("/auth"),
        token: routes("/token"),
        jwks: routes("/certs"),
        userinfo: routes("/userinfo"),
        end_session: routes("/logout"),
      },
      scopes: ["openid", "profile", "email", "groups", "offline_access"],
      claims: { openid: ["sub"], profile: ["preferred_username", "name"], email: ["email", "email_verified"], groups: ["groups"] },
      conformIdTokenClaims: false, // scope claims in the ID token too, as Keycloak does
      features: { devInteractions: { enabled: false } },
      interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
      // First-party clients: consent is granted for whatever they ask.
      loadExistingGrant: async (ctx: any) => {
        const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
        if (grantId) return ctx.oidc.provider.Grant.find(grantId);
        const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
        grant.addOIDCScope("openid profile email groups offline_access");
        await grant.save();
        return grant;
      },
      findAccount: (_ctx: unknown, sub: string) => {
        const account = accounts.get(sub);
        return account ? { accountId: sub, claims: () => ({ ...account }) } : undefined;
      },
      // Keycloak gives a refresh token with every code exchange, offline_access or not.
      issueRefreshToken: async (_ctx: unknown, client: any) => client.grantTypeAllowed("refresh_token"),
      ttl: { AccessToken: 300, IdToken: 300, Grant: 3600, Session: 3600, Interaction: 600, AuthorizationCode: 60 },
    } as any);
    built.on("server_error", () => {});
    return built;
  };

  async function interaction(request: IncomingMessage, response: ServerResponse, uid: string) {
    const idp = provider!;
    if (request.method === "GET") {
      const details = await idp.interactionDetails(request, response);
      if (idp && (instance.nextLogin !== null)) {
        const next = instance.nextLogin;
        instance.nextLogin = null;
        const result = next === "deny" ? { error: "access_denied", error_description: "The person cancelled" } : { login: { accountId: next } };
        return idp.interactionFinished(request, response, result, { mergeWithLastSubmission: false });
      }
      response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      response.end(`<!doctype html><html lang="en"><head><title>Research SSO</title></head><body>
<h1>Research SSO: sign in</h1><p>Client: ${details.params.client_id}</p>
<form method="post" action="/interaction/${uid}"><label for="username">Username</label><input id="username" name="username">
<button type="submit" name="action" value="login">Sign in</button><button type="submit" name="action" value="cancel">Cancel</button></form></body></html>`);
      return;
    }
    let body = "";
    for await (const chunk of request) body += chunk;
    const form = new URLSearchParams(body);
    const accountId = [...accounts.values()].find((account) => account.preferred_username === form.get("username"))?.sub ?? form.get("username") ?? "";
    const result =
      form.get("action") === "cancel" || !accounts.has(accountId)
        ? { error: "access_denied", error_description: "The person cancelled" }
        : { login: { accountId } };
    return idp.interactionFinished(request, response, result, { mergeWithLastSubmission: false });
  }

  /** The token endpoint's answer, with the ID token rewritten as `tamper` says. */
  function tampering(response: ServerResponse) {
    const chunks: Buffer[] = [];
    const write = response.write.bind(response);
    const end = response.end.bind(response);
    response.write = ((chunk: unknown) => {
      chunks.push(Buffer.from(chunk as Buffer));
      return true;
    }) as typeof response.write;
    response.end = ((chunk?: unknown) => {
      if (chunk) chunks.push(Buffer.from(chunk as Buffer));
      const text = Buffer.concat(chunks).toString("utf8");
      void rewrite(text).then((out) => {
        response.setHeader("content-length", Buffer.byteLength(out));
        write(out);
        end();
      });
      return response;
    }) as typeof response.end;
  }

  async function rewrite(text: string): Promise<string> {
    const change = instance.tamper;
    let answer: Record<string, unknown>;
    try {
      answer = JSON.parse(text);
    } catch {
      return text;
    }
    if (!change || typeof answer.id_token !== "string") return text;
    const claims: JWTPayload = { ...decodeJwt(answer.id_token) };
    for (const [name, value] of Object.entries(change.claims ?? {})) {
      if (value === undefined) delete claims[name];
      else claims[name] = value;
    }
    const header = { alg: SIGNING_ALG, kid, typ: "JWT", ...change.header } as { alg: string; [key: string]: unknown };
    if (header.alg === "none") {
      const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
      answer.id_token = `${encode(header)}.${encode(claims)}.`;
    } else {
      const key = change.key ?? (await importJWK(privateJwk, SIGNING_ALG));
      answer.id_token = await new SignJWT(claims).setProtectedHeader(header).sign(key);
    }
    return JSON.stringify(answer);
  }

  const listen = async () => {
    server = createServer((request, response) => {
      const path = request.url ?? "";
      requests.push(path);
      const interactionMatch = path.match(/^\/interaction\/([^/?]+)/);
      if (interactionMatch && provider) {
        interaction(request, response, interactionMatch[1]).catch((error) => {
          response.writeHead(500);
          response.end(String(error));
        });
        return;
      }
      if (instance.tamper && path.startsWith(`/realms/${realm}/protocol/openid-connect/token`)) tampering(response);
      if (!provider) {
        response.writeHead(503);
        response.end();
        return;
      }
      provider.callback()(request, response);
    });
    await new Promise<void>((resolve) => server!.listen(port, "127.0.0.1", resolve));
    port = (server!.address() as AddressInfo).port;
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
  // The issuer is the origin: oidc-provider serves discovery at the root of where it is mounted.
  const issuer = origin;
  const instance: SsoIdp = {
    origin,
    issuer,
    accounts,
    nextLogin: null,
    tamper: null,
    requests,
    configure(clients) {
      provider = build(issuer, clients);
    },
    down: close,
    async up() {
      if (!server) await listen();
    },
    stop: close,
  };
  return instance;
}

/** A browser: cookies by host (path and flags ignored: enough for loopback tests). */
export class HttpBrowser {
  private jars = new Map<string, Map<string, string>>();
  /** The last URL Gatehouse's redirect URI was called with. */
  callback: string | null = null;

  private jar(url: string) {
    const host = new URL(url).host;
    let jar = this.jars.get(host);
    if (!jar) this.jars.set(host, (jar = new Map()));
    return jar;
  }

  cookie(url: string, name: string): string | undefined {
    return this.jar(url).get(name);
  }

  async get(url: string, headers: Record<string, string> = {}): Promise<Response> {
    const jar = this.jar(url);
    const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join("; ");
    const response = await fetch(url, { redirect: "manual", headers: { ...headers, ...(cookie ? { cookie } : {}) } });
    for (const set of response.headers.getSetCookie()) {
      const [pair] = set.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === "" || /max-age=0/i.test(set)) jar.delete(name);
      else jar.set(name, value);
    }
    if (url.includes("/code?")) this.callback = url;
    return response;
  }

  /** Follows redirects from `url` until an answer that is not one (or one leaving for `stopAt`). */
  async follow(url: string, stopAt?: (next: string) => boolean): Promise<{ response: Response; url: string }> {
    let current = url;
    for (let hops = 0; hops < 20; hops++) {
      const response = await this.get(current);
      const location = response.headers.get("location");
      if (response.status < 300 || response.status >= 400 || !location) return { response, url: current };
      const next = new URL(location, current).href;
      if (stopAt?.(next)) return { response, url: next };
      current = next;
    }
    throw new Error(`too many redirects from ${url}`);
  }
}

