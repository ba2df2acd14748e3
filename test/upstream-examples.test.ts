// Each configuration example of auth-o-tron's documentation (providers.md,
// augmenters.md), unchanged, passes `gatehouse config check`.
import { describe, expect, test } from "bun:test";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot, temporaryDirectory } from "./helpers/gatehouse.ts";

const examples = join(import.meta.dir, "fixtures/upstream-examples");
// The examples show one section each; a config also needs a jwt section.
const JWT_SECTION = "\njwt:\n  iss: gatehouse\n  secret: an-example-secret-of-at-least-32-bytes\n";

describe("auth-o-tron's documented examples pass `config check` unchanged", () => {
  const dir = temporaryDirectory();
  for (const file of readdirSync(examples).filter((name) => name.endsWith(".yaml"))) {
    test(file, () => {
      const path = join(dir, file);
      writeFileSync(path, readFileSync(join(examples, file), "utf8") + JWT_SECTION);
      const result = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), "config", "check", path], {
        env: { ...process.env, GATEHOUSE_CONFIG: "", AOT_CONFIG_PATH: "" },
      });
      expect(result.stderr.toString()).toBe("");
      expect(result.exitCode).toBe(0);
    });
  }
});

test("the plain example's password_hash users sign in with the passwords its comments give", async () => {
  const { parse } = await import("yaml");
  const { startApp, basic } = await import("./helpers/app.ts");
  const example = parse(readFileSync(join(examples, "providers-plain.yaml"), "utf8"));
  const app = await startApp({ ...example, jwt: { iss: "gatehouse", secret: "an-example-secret-of-at-least-32-bytes" }, store: { enabled: false } });
  try {
    const answer = (username: string, password: string) =>
      fetch(`${app.url}/authenticate`, { headers: { authorization: basic(username, password) } }).then((response) => response.status);
    expect(await answer("alice", "alicepass123")).toBe(200);
    expect(await answer("bob", "bobpass456")).toBe(200);
    expect(await answer("alice", "bobpass456")).toBe(401);
  } finally {
    await app.stop();
  }
});
