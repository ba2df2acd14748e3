// The round trip of a sign-in with an identity provider (issue 21): the
// portal's button → the provider (panva's oidc-provider on loopback, signing
// the person in without its page) → Gatehouse's redirect URI (state, code
// exchange, ID token signature and claims, the account, a portal session) →
// the portal. Measured end to end from a client on the same machine, one
// sign-in at a time, against Gatehouse from the sources with a SQLite store.
//
//   bun run bench/sign-in.ts [count]   (default 200, after 20 warm-up)
//
// The figure includes the provider's own work (oidc-provider under Bun: its
// authorization and token endpoints, signing the ID token), which a real
// provider does elsewhere, and the round trips a browser would make.
import { rmSync } from "node:fs";
import { startApp } from "../test/helpers/app.ts";
import { temporaryDirectory } from "../test/helpers/gatehouse.ts";
import { portalConfig } from "../test/helpers/portal.ts";
import { HttpBrowser, startSsoIdp } from "../test/helpers/sso-idp.ts";

const count = Number(process.argv[2] ?? 200);
const SECRET = "bench-client-secret-0123456789abcdef";
const idp = await startSsoIdp();
for (let i = 0; i < count + 20; i++) idp.accounts.set(`u-${i}`, { sub: `u-${i}`, preferred_username: `person${i}`, email_verified: true, groups: ["/research/staff"] });
const dir = temporaryDirectory("gatehouse-bench-sign-in-");
const base = portalConfig(dir);
const app = await startApp(
  {
    ...base,
    providers: [
      ...base.providers,
      { type: "oidc", name: "sso", realm: "sso", issuer: idp.issuer, client_id: "gatehouse", client_secret: SECRET, roles_claim: "groups", scopes: ["openid", "profile", "email", "groups"] },
    ],
    logging: { level: "warn" },
  },
  {},
);
idp.configure([{ client_id: "gatehouse", client_secret: SECRET, redirect_uris: [`${app.url}/api/v1/auth/provider/sso/code`] }]);

async function signIn(account: string): Promise<number> {
  const browser = new HttpBrowser();
  idp.nextLogin = account;
  const started = performance.now();
  const { url } = await browser.follow(`${app.url}/portal/sign-in/sso`, (next) => next === `${app.url}/portal/`);
  if (url !== `${app.url}/portal/`) throw new Error(`sign-in ended at ${url}`);
  return performance.now() - started;
}

for (let i = 0; i < 20; i++) await signIn(`u-${count + i}`); // warm-up: discovery, JWKS, JIT
const times: number[] = [];
for (let i = 0; i < count; i++) times.push(await signIn(`u-${i}`)); // each a first sign-in: an account is made
const again: number[] = [];
for (let i = 0; i < Math.min(count, 100); i++) again.push(await signIn(`u-${i}`)); // known accounts
const quantile = (values: number[], q: number) => values.toSorted((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))];
const line = (label: string, values: number[]) =>
  `${label}: median ${quantile(values, 0.5).toFixed(1)} ms, p90 ${quantile(values, 0.9).toFixed(1)} ms, p99 ${quantile(values, 0.99).toFixed(1)} ms (${values.length} sign-ins)`;
console.log(line("first sign-in (account made)", times));
console.log(line("sign-in again (account known)", again));
await app.stop();
await idp.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
