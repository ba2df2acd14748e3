// Fills a bench store with API tokens: `bun bench/seed-tokens.ts CONFIG COUNT`.
// Prints, as JSON, the secret the bench presents (`valid`), the secret of a
// token of the same user that is revoked (`revoked`, for the refusal case) and
// of one limited to 192.0.2.0/24 (`limited`).
import { loadConfigFile } from "../src/config/load.ts";
import { openBackend } from "../src/store/open.ts";
import { TokenService } from "../src/tokens/service.ts";
import { tokenPolicy } from "../src/config/policies.ts";
import type { Actor } from "../src/identity/actor.ts";
import { silentLogger } from "../src/log.ts";

const [configPath, countText] = process.argv.slice(2);
const { config } = loadConfigFile(configPath!);
const store = await openBackend(config.store);
const service = new TokenService(store, tokenPolicy(config), silentLogger);
const operator: Actor = { user: null, admin: true, operator: "bench", client: { socket: "bench", reported: null } };
const count = Number(countText);
const owner = { username: "bench-clear", realm: "bench" };
// Spread the tokens over many owners, as a real store would be; the last ones
// belong to the bench's configured user, whose tokens the bench presents.
for (let i = 2; i < count; i++) {
  await service.create(operator, { username: `user${i % 5000}`, realm: "elsewhere" }, { note: `bench ${i}` });
}
const revoked = await service.create(operator, owner, { note: "revoked, presented by the bench" });
await service.revoke(operator, revoked.token.id);
const valid = await service.create(operator, owner, { note: "presented by the bench" });
// The same, limited to a network (issue 23 § 4): the bench names a client inside it in X-Real-IP.
const limited = await service.create(operator, owner, { note: "limited to 192.0.2.0/24, presented by the bench", allowedNetworks: ["192.0.2.0/24"] });
await service.close();
await store.close();
console.log(JSON.stringify({ valid: valid.secret, revoked: revoked.secret, limited: limited.secret }));
