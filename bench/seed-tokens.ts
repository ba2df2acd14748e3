// Fills a bench store with API tokens: `bun bench/seed-tokens.ts CONFIG COUNT`.
// Prints the secret of the last token created (the one the bench presents).
import { loadConfigFile } from "../src/config/load.ts";
import { openStore } from "../src/store/database.ts";
import { TokenService, tokenPolicy } from "../src/tokens/service.ts";
import type { Actor } from "../src/identity/actor.ts";
import { silentLogger } from "../src/log.ts";

const [configPath, countText] = process.argv.slice(2);
const { config } = loadConfigFile(configPath!);
const store = openStore(config.store.path);
const service = new TokenService(store, tokenPolicy(config), silentLogger);
const operator: Actor = { user: null, admin: true, operator: "bench", client: { socket: "bench", reported: null } };
const count = Number(countText);
let secret: string;
// Spread the tokens over many owners, as a real store would be; the last one
// belongs to the bench's configured user, whose token the bench presents.
for (let i = 1; i < count; i++) {
  service.create(operator, { username: `user${i % 5000}`, realm: "elsewhere" }, { note: `bench ${i}` });
}
secret = service.create(operator, { username: "bench-clear", realm: "bench" }, { note: "presented by the bench" }).secret;
service.close();
store.close();
console.log(secret);
