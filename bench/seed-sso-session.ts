// Opens a browser session with a single sign-on handle in a bench store, as a
// portal sign-in would: `bun bench/seed-sso-session.ts CONFIG`. Prints the
// handle (the __Secure-gatehouse_sso cookie's value) the bench presents.
import { loadConfigFile } from "../src/config/load.ts";
import { openBackend } from "../src/store/open.ts";
import { SessionService } from "../src/sessions/service.ts";
import { sessionPolicy } from "../src/config/policies.ts";
import { createUser } from "../src/identity/user.ts";
import { silentLogger } from "../src/log.ts";

const [configPath] = process.argv.slice(2);
const { config } = loadConfigFile(configPath!);
const store = await openBackend(config.store);
// Signing (access tokens) and re-reading users are not needed to open a browser session.
const sessions = new SessionService(store, sessionPolicy(config), { keySet: null as never, iss: config.jwt.iss }, () => null, silentLogger);
const user = createUser({ username: "bench-clear", realm: "bench", roles: ["reader"] });
const opened = await sessions.signInBrowser(user, { name: "bench-plain", realm: "bench", describeUser: () => null }, { socket: "bench", reported: null }, "bench", ["portal", "sso"]);
await store.close();
console.log(opened.handles.sso);
