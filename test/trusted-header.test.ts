// Pre-authentication by a trusted front proxy (geOrchestra's headers, the
// seed's Apache + mod_mellon set-up): through a real nginx front on loopback
// that strips what clients send and sets the headers itself, and directly.
// Two loopback addresses tell the trusted proxy (127.0.0.1) from anyone else
// (127.0.0.2): requests leave from 127.0.0.2 by binding the client socket,
// and an nginx front binds its upstream connections there (proxy_bind).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import http from "node:http";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeJwt } from "jose";
import { basic, logEvents, startApp, type TestApp } from "./helpers/app.ts";
import { storedRow, storedRows } from "./helpers/stored.ts";
import { freePort, nginxAvailable, startNginx, type RunningNginx } from "./helpers/nginx.ts";
import { buildConfig, ConfigError } from "../src/config/load.ts";
import { trustedHeaderProvider } from "../src/providers/trusted-header.ts";
import { createLogger } from "../src/log.ts";
import type { RequestContext } from "../src/identity/request.ts";

const b64 = (text: string) => `{base64}${Buffer.from(text, "utf8").toString("base64")}`;

const TESTADMIN = {
  "sec-georchestra-preauthenticated": "true",
  "preauth-username": "testadmin",
  "preauth-email": "testadmin@georchestra.org",
  "preauth-firstname": b64("Élodie"),
  "preauth-lastname": b64("Dépré-Müller"),
  "preauth-org": "geOrchestra",
  "preauth-provider": "renater",
  "preauth-provider-id": "testadmin@idp.example.org",
  "preauth-roles": "ROLE_USER;ROLE_GN_EDITOR",
};

function config(createAccounts: boolean) {
  return {
    version: "2.0.0",
    providers: [
      { type: "plain", name: "local", realm: "local", users: [{ username: "alice", password: "alice-pw" }] },
      {
        type: "trusted-header",
        name: "front",
        realm: "georchestra",
        trusted_proxies: ["127.0.0.1/32", "::1"],
        create_accounts: createAccounts,
        headers: { roles: "preauth-roles" },
        // This front encodes values as geOrchestra's own tests do, any of them: decoding is opt-in (finding 11 of issue 20).
        decode_base64: true,
      },
    ],
    jwt: { iss: "preauth-test", secret: "preauth-test-secret-0123456789abcdef" },
    include_legacy_headers: true,
    store: { enabled: true, type: "sqlite", path: ":memory:" },
    services: [{ name: "ecflow", scopes: ["read"] }],
  };
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request whose socket leaves from `from` (a loopback address), so the server sees that peer. */
function request(url: string, headers: Record<string, string>, options: { from?: string; method?: string; body?: unknown } = {}): Promise<Answer> {
  const target = new URL(url);
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const outgoing = http.request(
      {
        host: target.hostname,
        port: Number(target.port),
        path: target.pathname + target.search,
        method: options.method ?? "GET",
        localAddress: options.from ?? "127.0.0.1",
        headers: { ...headers, ...(payload ? { "content-type": "application/json", "content-length": String(Buffer.byteLength(payload)) } : {}) },
      },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk) => (body += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
      },
    );
    outgoing.on("error", reject);
    outgoing.end(payload);
  });
}

const logged = (app: TestApp, event: string) => logEvents(app).filter((line) => line.event === event);

describe("trusted-header, directly", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp(config(true));
  });
  afterAll(async () => {
    await app?.stop();
  });

  test("from a trusted peer: the user, with {base64} values decoded as UTF-8 and roles from the configured header", async () => {
    const answer = await request(`${app.url}/authenticate`, TESTADMIN);
    expect(answer.status).toBe(200);
    expect(answer.headers["x-auth-username"]).toBe("testadmin");
    expect(answer.headers["x-auth-realm"]).toBe("georchestra");
    expect(answer.headers["x-auth-roles"]).toBe("ROLE_USER,ROLE_GN_EDITOR");
    const claims = decodeJwt(String(answer.headers.authorization).slice("Bearer ".length));
    expect(claims.sub).toBe("georchestra-testadmin");
    expect(claims.attributes).toEqual({
      email: "testadmin@georchestra.org",
      first_name: "Élodie",
      last_name: "Dépré-Müller",
      organisation: "geOrchestra",
      provider: "renater",
      provider_id: "testadmin@idp.example.org",
    });
    const whoami = await request(`${app.url}/whoami`, TESTADMIN);
    expect(JSON.parse(whoami.body)).toMatchObject({ username: "testadmin", realm: "georchestra", attributes: { last_name: "Dépré-Müller" } });
    // The username too may come encoded (geOrchestra's own test sends every value so).
    const encoded = await request(`${app.url}/whoami`, { ...TESTADMIN, "preauth-username": b64("françois.vanderblah") });
    expect(JSON.parse(encoded.body).username).toBe("françois.vanderblah");
  });

  test("from an untrusted peer the headers are ignored as if absent, and that is logged once per source per minute", async () => {
    const before = logged(app, "auth.trusted_header.untrusted_source").length;
    const absent = await request(`${app.url}/authenticate`, {});
    for (let attempt = 0; attempt < 3; attempt++) {
      const ignored = await request(`${app.url}/authenticate`, TESTADMIN, { from: "127.0.0.2" });
      expect(ignored.status).toBe(401);
      // The same answer as no credential at all: the challenge names no header scheme.
      expect(ignored.headers["www-authenticate"]).toBe(absent.headers["www-authenticate"]);
      expect(ignored.headers["x-auth-username"]).toBeUndefined();
    }
    expect(absent.headers["www-authenticate"]).toBe('Basic realm="local"');
    expect((await request(`${app.url}/whoami`, TESTADMIN, { from: "127.0.0.2" })).status).toBe(401);
    const lines = logged(app, "auth.trusted_header.untrusted_source").slice(before);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "warn", provider: "front", source: "127.0.0.2" });
    // Ignored means absent: other credentials from that peer still work.
    const alice = await request(`${app.url}/authenticate`, { ...TESTADMIN, authorization: basic("alice", "alice-pw") }, { from: "127.0.0.2" });
    expect(alice.status).toBe(200);
    expect(alice.headers["x-auth-username"]).toBe("alice");
  });

  test("the flag header missing or other than plain `true` makes the other headers count for nothing", async () => {
    // In any case, as geOrchestra compares it.
    expect((await request(`${app.url}/authenticate`, { ...TESTADMIN, "sec-georchestra-preauthenticated": "TRUE" })).status).toBe(200);
    const { "sec-georchestra-preauthenticated": _flag, ...withoutFlag } = TESTADMIN;
    for (const headers of [withoutFlag, ...["false", "yes", "1", b64("true"), ""].map((flag) => ({ ...TESTADMIN, "sec-georchestra-preauthenticated": flag }))]) {
      const answer = await request(`${app.url}/authenticate`, headers);
      expect(answer.status).toBe(401);
    }
  });

  test("unusable values refuse: no username, bad base64, control characters; a malformed Authorization refuses whatever else came", async () => {
    const { "preauth-username": _username, ...noUsername } = TESTADMIN;
    for (const headers of [
      noUsername,
      { ...TESTADMIN, "preauth-username": "" },
      { ...TESTADMIN, "preauth-lastname": "{base64}not*base64" },
      { ...TESTADMIN, "preauth-lastname": `{base64}${Buffer.from([0xc3, 0x28]).toString("base64")}` }, // invalid UTF-8
      { ...TESTADMIN, "preauth-username": b64("evil\r\nX-Auth-Roles: admin") },
      { ...TESTADMIN, authorization: "Basic !!!" },
    ]) {
      const answer = await request(`${app.url}/authenticate`, headers);
      expect(answer.status).toBe(401);
      expect(answer.headers["x-auth-username"]).toBeUndefined();
    }
  });

  test("X-Auth-Realm: the provider's realm is honoured, another refuses", async () => {
    expect((await request(`${app.url}/authenticate`, { ...TESTADMIN, "x-auth-realm": "georchestra" })).status).toBe(200);
    expect((await request(`${app.url}/authenticate`, { ...TESTADMIN, "x-auth-realm": "local" })).status).toBe(401);
  });

  test("create_accounts: the account is created once, with its profile, and updated when the headers change", async () => {
    const account = () =>
      storedRows(
        app,
        `SELECT u.id, u.username, u.realm, p.email, p.first_name, p.last_name, p.organisation, p.provider, p.provider_id, p.roles, p.updated_at
           FROM users u JOIN user_profiles p ON p.user_id = u.id WHERE u.username = 'newcomer'`,
      );
    const newcomer = { ...TESTADMIN, "preauth-username": "newcomer", "preauth-email": "newcomer@example.org" };
    expect(await account()).toHaveLength(0);
    for (let attempt = 0; attempt < 3; attempt++) expect((await request(`${app.url}/authenticate`, newcomer)).status).toBe(200);
    const [created] = await account();
    expect(await account()).toHaveLength(1);
    expect(created).toMatchObject({
      username: "newcomer",
      realm: "georchestra",
      email: "newcomer@example.org",
      first_name: "Élodie",
      last_name: "Dépré-Müller",
      organisation: "geOrchestra",
      provider: "renater",
      provider_id: "testadmin@idp.example.org",
      roles: JSON.stringify(["ROLE_USER", "ROLE_GN_EDITOR"]),
    });
    await Bun.sleep(5);
    const changed = { ...newcomer, "preauth-email": "n.comer@example.org", "preauth-org": b64("Société Générale"), "preauth-roles": "ROLE_USER" };
    const answer = await request(`${app.url}/authenticate`, changed);
    expect(answer.headers["x-auth-roles"]).toBe("ROLE_USER");
    const [updated] = await account();
    expect(await account()).toHaveLength(1);
    expect(updated).toMatchObject({ id: created.id, email: "n.comer@example.org", organisation: "Société Générale", roles: '["ROLE_USER"]' });
    expect(updated.updated_at).toBeGreaterThan(created.updated_at);
    const events = logEvents(app).filter((line) => line.username === "newcomer" && line.event.startsWith("auth.trusted_header.account_"));
    expect(events.map((line) => line.event)).toEqual(["auth.trusted_header.account_created", "auth.trusted_header.account_updated"]);
  });

  test("such an account owns API tokens, which then work from anywhere with the profile the proxy last sent", async () => {
    const created = await request(`${app.url}/api/v1/tokens`, TESTADMIN, { method: "POST", body: { note: "from the portal", scopes: { ecflow: ["read"] } } });
    expect(created.status).toBe(201);
    const { token } = JSON.parse(created.body);
    const answer = await request(`${app.url}/authenticate`, { authorization: `Bearer ${token}` }, { from: "127.0.0.2" });
    expect(answer.status).toBe(200);
    expect(answer.headers["x-auth-username"]).toBe("testadmin");
    expect(answer.headers["x-auth-realm"]).toBe("georchestra");
    expect(answer.headers["x-auth-roles"]).toBe("ROLE_USER,ROLE_GN_EDITOR");
    const claims = decodeJwt(String(answer.headers.authorization).slice("Bearer ".length));
    expect(claims).toMatchObject({ scopes: { ecflow: ["read"] }, attributes: { last_name: "Dépré-Müller", organisation: "geOrchestra" } });
    const list = await request(`${app.url}/api/v1/tokens`, TESTADMIN);
    expect(JSON.parse(list.body).tokens.map((entry: { note: string }) => entry.note)).toContain("from the portal");
  });
});

describe("trusted-header without create_accounts", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp(config(false));
  });
  afterAll(async () => {
    await app?.stop();
  });

  test("a user the store does not know is refused, and no account is made; one it knows is accepted", async () => {
    const count = async (table: string) => (await storedRow<{ n: number }>(app, `SELECT count(*) AS n FROM ${table}`))!.n;
    // Written as `gatehouse tokens create --user` would, through the store's queries (SQLite or PostgreSQL).
    const upsertUser = (username: string, realm: string) => app.gatehouse.store!.transaction(async (q) => q.upsertUser(username, realm, Date.now()));
    const refused = await request(`${app.url}/authenticate`, TESTADMIN);
    expect(refused.status).toBe(401);
    expect(await count("users")).toBe(0);
    expect(logged(app, "auth.trusted_header.unknown_user")).toHaveLength(1);
    // Known: in the store, e.g. given a token by an admin (gatehouse tokens create --user testadmin --realm georchestra).
    await upsertUser("testadmin", "georchestra");
    const accepted = await request(`${app.url}/authenticate`, TESTADMIN);
    expect(accepted.status).toBe(200);
    expect(accepted.headers["x-auth-username"]).toBe("testadmin");
    expect(await count("user_profiles")).toBe(0);
    // The same user in another realm is still unknown.
    await upsertUser("other", "local");
    expect((await request(`${app.url}/authenticate`, { ...TESTADMIN, "preauth-username": "other" })).status).toBe(401);
  });
});

describe("trusted-header configuration and addresses", () => {
  const entry = (fields: Record<string, unknown>) => ({ ...config(true), providers: [{ type: "trusted-header", name: "front", realm: "g", ...fields }] });
  const problems = (raw: Record<string, unknown>) => {
    try {
      buildConfig(raw, "test", {});
      return [];
    } catch (error) {
      return (error as ConfigError).problems;
    }
  };

  test("trusted_proxies is required and every entry must be an address or CIDR block; the store must be enabled", () => {
    expect(problems(entry({}))).toEqual(["providers[0].trusted_proxies: is required"]);
    expect(problems(entry({ trusted_proxies: [] }))[0]).toStartWith("providers[0].trusted_proxies:");
    expect(problems(entry({ trusted_proxies: ["10.0.0.0/8", "everyone", "10.0.0.0/33", "::1/129", "fd00::/8"] }))).toEqual([
      'providers[0].trusted_proxies[1]: "everyone" is not an IP address or CIDR block',
      'providers[0].trusted_proxies[2]: "10.0.0.0/33" has an invalid prefix length (0 to 32)',
      'providers[0].trusted_proxies[3]: "::1/129" has an invalid prefix length (0 to 128)',
    ]);
    expect(problems({ ...entry({ trusted_proxies: ["127.0.0.1"] }), store: { enabled: false } })).toContain(
      "providers[0]: a trusted-header provider keeps its accounts in the store, which is disabled (store.enabled: false)",
    );
    expect(problems(entry({ trusted_proxies: ["127.0.0.1"], headers: { usernme: "x-user" } }))[0]).toStartWith("providers[0].headers");
  });

  test("IPv4 and IPv6 blocks, IPv4 peers of a dual-stack listener, and nothing else", () => {
    const provider = trustedHeaderProvider.create(
      {
        type: "trusted-header",
        name: "front",
        realm: "g",
        trusted_proxies: ["10.1.0.0/16", "2001:db8::/32", "::1"],
        create_accounts: false,
        headers: {
          flag: "sec-georchestra-preauthenticated",
          username: "preauth-username",
          email: "preauth-email",
          first_name: "preauth-firstname",
          last_name: "preauth-lastname",
          organisation: "preauth-org",
          provider: "preauth-provider",
          provider_id: "preauth-provider-id",
        },
        decode_base64: false,
      },
      { logger: createLogger({ level: "error", format: "json", write() {} }), store: null },
    );
    const from = (socket: string | null) =>
      provider.presentIn!({ headers: new Headers({ "sec-georchestra-preauthenticated": "true" }), client: { socket, reported: "10.1.2.3" } } as RequestContext);
    expect(["10.1.2.3", "10.1.255.255", "::ffff:10.1.0.1", "2001:db8::1", "2001:db8:ffff::5", "::1"].map(from)).toEqual([true, true, true, true, true, true]);
    // X-Forwarded-For and X-Real-IP are never the peer: only the socket counts.
    expect(["10.2.0.1", "127.0.0.1", "::ffff:10.2.0.1", "2001:db9::1", "::2", "fe80::1", "garbage", null].map(from)).toEqual([
      false, false, false, false, false, false, false, false,
    ]);
  });
});

const nginxEnabled = nginxAvailable("trusted-header behind an nginx front");

describe.skipIf(!nginxEnabled)("trusted-header behind a real nginx front (the seed's Apache set-up)", () => {
  let app: TestApp;
  let front: RunningNginx;
  const ports = { trusted: 0, untrusted: 0 };

  /**
   * The front proxy of the seed: it has authenticated the user itself
   * (mod_mellon there, a session cookie here) and, like Apache's
   * `RequestHeader unset` + `RequestHeader set … "expr=-n …"`, replaces
   * whatever the client sent under these names by its own values, sending
   * none when it has none (nginx drops a header set to an empty value).
   */
  function frontServer(port: number, bind: string, gatehousePort: number, dir: string) {
    const headers = `
      proxy_set_header sec-georchestra-preauthenticated $preauth_flag;
      proxy_set_header preauth-username $preauth_username;
      proxy_set_header preauth-email $preauth_email;
      proxy_set_header preauth-firstname $preauth_firstname;
      proxy_set_header preauth-lastname $preauth_lastname;
      proxy_set_header preauth-org $preauth_org;
      proxy_set_header preauth-provider $preauth_provider;
      proxy_set_header preauth-provider-id $preauth_provider_id;
      proxy_set_header preauth-roles "";
      proxy_set_header X-Real-IP $remote_addr;`;
    return `
  server {
    listen 127.0.0.1:${port};
    ${bind ? `proxy_bind ${bind};` : ""}
    location = /auth {
      internal;
      proxy_pass http://127.0.0.1:${gatehousePort}/authenticate;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      ${headers}
    }
    location /protected/ {
      auth_request /auth;
      auth_request_set $auth_username $upstream_http_x_auth_username;
      add_header X-Seen-User $auth_username always;
      root ${dir}/html;
    }
    location / {
      proxy_pass http://127.0.0.1:${gatehousePort};
      ${headers}
    }
  }`;
  }

  beforeAll(async () => {
    app = await startApp(config(true));
    ports.trusted = freePort();
    ports.untrusted = freePort();
    const gatehousePort = Number(new URL(app.url).port);
    front = await startNginx({
      http: (dir) => {
        mkdirSync(join(dir, "html/protected"), { recursive: true });
        writeFileSync(join(dir, "html/protected/index.html"), "protected page\n");
        return `
  map $cookie_session $preauth_flag { default ""; s1 "true"; }
  map $cookie_session $preauth_username { default ""; s1 "jdupont"; }
  map $cookie_session $preauth_email { default ""; s1 "jeanne.dupont@example.fr"; }
  map $cookie_session $preauth_firstname { default ""; s1 "${b64("Jeanne-Hélène")}"; }
  map $cookie_session $preauth_lastname { default ""; s1 "${b64("Dupont-Lefèvre")}"; }
  map $cookie_session $preauth_org { default ""; s1 "INRAE"; }
  map $cookie_session $preauth_provider { default ""; s1 "myexternalprovider"; }
  map $cookie_session $preauth_provider_id { default ""; s1 "jdupont@inrae.fr"; }
${frontServer(ports.trusted, "", gatehousePort, dir)}
${frontServer(ports.untrusted, "127.0.0.2", gatehousePort, dir)}`;
      },
    });
  });
  afterAll(async () => {
    await front?.stop();
    await app?.stop();
  });

  test("a user the front has authenticated arrives signed in, accents intact", async () => {
    const answer = await request(`http://127.0.0.1:${ports.trusted}/whoami`, { cookie: "session=s1" });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({
      username: "jdupont",
      realm: "georchestra",
      attributes: { first_name: "Jeanne-Hélène", last_name: "Dupont-Lefèvre", organisation: "INRAE", provider: "myexternalprovider" },
    });
  });

  test("through nginx's auth_request as well", async () => {
    const signedIn = await request(`http://127.0.0.1:${ports.trusted}/protected/index.html`, { cookie: "session=s1" });
    expect(signedIn.status).toBe(200);
    expect(signedIn.body).toBe("protected page\n");
    expect(signedIn.headers["x-seen-user"]).toBe("jdupont");
    expect((await request(`http://127.0.0.1:${ports.trusted}/protected/index.html`, {})).status).toBe(401);
  });

  test("headers a client forges are stripped by the front: nobody is signed in", async () => {
    const forged = { ...TESTADMIN, "preauth-username": "admin" };
    expect((await request(`http://127.0.0.1:${ports.trusted}/whoami`, forged)).status).toBe(401);
    expect((await request(`http://127.0.0.1:${ports.trusted}/protected/index.html`, forged)).status).toBe(401);
    // With a session, the front's values win over the client's.
    const mixed = await request(`http://127.0.0.1:${ports.trusted}/whoami`, { ...forged, cookie: "session=s1" });
    expect(JSON.parse(mixed.body).username).toBe("jdupont");
    expect(JSON.parse(mixed.body).roles).toEqual([]);
  });

  test("a proxy outside trusted_proxies (its connections leave from 127.0.0.2) is not believed, and is logged", async () => {
    const before = logged(app, "auth.trusted_header.untrusted_source").filter((line) => line.source === "127.0.0.2").length;
    expect((await request(`http://127.0.0.1:${ports.untrusted}/whoami`, { cookie: "session=s1" })).status).toBe(401);
    expect((await request(`http://127.0.0.1:${ports.untrusted}/protected/index.html`, { cookie: "session=s1" })).status).toBe(401);
    const after = logged(app, "auth.trusted_header.untrusted_source").filter((line) => line.source === "127.0.0.2").length;
    expect(after - before).toBe(1);
  });
});

describe("trusted-header and the portal", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp(config(true));
  });
  afterAll(async () => {
    await app?.stop();
  });

  test("a person the front proxy vouches for arrives in the portal signed in, with a session of their own", async () => {
    // Any portal page sends them to the sign-in page, which opens their session at once.
    const home = await request(`${app.url}/portal/`, TESTADMIN);
    expect(home.status).toBe(303);
    expect(home.headers.location).toEndWith("/portal/sign-in");
    const signIn = await request(`${app.url}/portal/sign-in`, TESTADMIN);
    expect(signIn.status).toBe(303);
    const setCookie = String(signIn.headers["set-cookie"]);
    expect(setCookie).toContain("gatehouse_session=");
    const cookie = setCookie.split(";")[0];
    const page = await request(`${app.url}/portal/`, { ...TESTADMIN, cookie });
    expect(page.status).toBe(200);
    expect(page.body).toContain("testadmin");
    const sessions = await storedRow<{ n: number }>(app, "SELECT count(*) AS n FROM sessions WHERE revoked_at IS NULL");
    expect(sessions!.n).toBe(1);
  });

  test("from an untrusted address, or after signing out, the sign-in form is shown instead", async () => {
    const untrusted = await request(`${app.url}/portal/sign-in`, TESTADMIN, { from: "127.0.0.2" });
    expect(untrusted.status).toBe(200);
    expect(untrusted.headers["set-cookie"]).toBeUndefined();
    const afterSignOut = await request(`${app.url}/portal/sign-in?done=signed-out`, TESTADMIN);
    expect(afterSignOut.status).toBe(200);
    expect(afterSignOut.headers["set-cookie"]).toBeUndefined();
  });
});
