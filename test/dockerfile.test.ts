// The image's commands leave the config path to the environment, as
// auth-o-tron's compose example expects (AOT_CONFIG_PATH), and those commands
// then find the config through it. (No Docker daemon is needed: the image runs
// exactly `gatehouse serve` and `gatehouse healthcheck`, run here from source.)
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot, spawnGatehouse, temporaryDirectory } from "./helpers/gatehouse.ts";

const dockerfile = readFileSync(join(projectRoot, "Dockerfile"), "utf8");
/** The exec-form arguments of the last instruction of that name (a HEALTHCHECK's after its own CMD). */
function execForm(instruction: "CMD" | "ENTRYPOINT" | "HEALTHCHECK"): string[] {
  const joined = dockerfile.replace(/\\\n\s*/g, " ");
  const lines = joined.split("\n").filter((line) => line.startsWith(`${instruction} `));
  const last = lines.at(-1)!;
  return JSON.parse(last.slice(last.indexOf("[")));
}

describe("the Docker image honours GATEHOUSE_CONFIG and AOT_CONFIG_PATH", () => {
  test("neither CMD nor HEALTHCHECK names a config file", () => {
    expect(execForm("ENTRYPOINT")).toEqual(["/app/gatehouse"]);
    expect(execForm("CMD")).toEqual(["serve"]);
    expect(execForm("HEALTHCHECK")).toEqual(["/app/gatehouse", "healthcheck"]);
    expect(dockerfile).toMatch(/^WORKDIR \/app$/m); // ./config.yaml, the fall-back, is /app/config.yaml
  });

  test("`serve` and `healthcheck`, as the image runs them, find the config through AOT_CONFIG_PATH or GATEHOUSE_CONFIG", async () => {
    const probe = Bun.serve({ port: 0, fetch: () => new Response() });
    const port = probe.port!;
    probe.stop(true);
    const dir = temporaryDirectory();
    const path = join(dir, "mounted-config.yaml");
    writeFileSync(
      path,
      `server: {host: 127.0.0.1, port: ${port}}\nstore: {enabled: false}\njwt: {iss: x, secret: a-secret-long-enough-for-hs256-signing}\nproviders: [{type: plain, name: p, realm: r, users: [{username: u, password: p}]}]\n`,
    );
    for (const variable of ["AOT_CONFIG_PATH", "GATEHOUSE_CONFIG"]) {
      const other = variable === "AOT_CONFIG_PATH" ? "GATEHOUSE_CONFIG" : "AOT_CONFIG_PATH";
      const env = { [variable]: path, [other]: "" };
      const server = await spawnGatehouse({ cwd: temporaryDirectory(), env: { ...env, GATEHOUSE_BIND_ADDRESS: `127.0.0.1:${port}` } });
      try {
        expect(server.port).toBe(port);
        expect(server.logs.join("\n")).toContain("mounted-config.yaml");
        const health = Bun.spawnSync([process.execPath, "run", join(projectRoot, "src/main.ts"), "healthcheck"], {
          cwd: temporaryDirectory(),
          env: { ...process.env, ...env },
        });
        expect(health.exitCode).toBe(0);
      } finally {
        await server.stop();
      }
    }
  });
});
