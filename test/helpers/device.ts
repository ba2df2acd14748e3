// A person at the portal's device page, over plain HTTP (test/device-flow.test.ts, test/login-cli.test.ts).
import { expect } from "bun:test";
import { join } from "node:path";
import { projectRoot, temporaryDirectory } from "./gatehouse.ts";

const FORM = { "content-type": "application/x-www-form-urlencoded" };

/** Signs in to the portal with a provider's form; answers the session's cookie. */
export async function portalSignIn(url: string, provider: string, username: string, password: string): Promise<string> {
  const response = await fetch(`${url}/portal/sign-in`, { method: "POST", redirect: "manual", headers: FORM, body: new URLSearchParams({ provider, username, password }) });
  expect(response.status).toBe(303);
  return response.headers.get("set-cookie")!.split(";")[0];
}

/** A portal page as the signed-in browser (or a signed-out one) gets it. */
export async function portalPage(url: string, path: string, cookie: string | null, headers: Record<string, string> = {}) {
  const response = await fetch(`${url}/portal/${path}`, { redirect: "manual", headers: { ...(cookie ? { cookie } : {}), ...headers } });
  return { status: response.status, text: await response.text(), location: response.headers.get("location") };
}

export const csrfOf = (text: string) => text.match(/name="csrf" value="([^"]+)"/)![1];

/** Opens the device page for a user code and approves or denies it, with the page's CSRF token. */
export async function decideDevice(url: string, cookie: string, userCode: string, decision: "approve" | "deny", headers: Record<string, string> = {}) {
  const shown = await portalPage(url, `device?${new URLSearchParams({ code: userCode })}`, cookie, headers);
  const response = await fetch(`${url}/portal/device/${decision}`, {
    method: "POST",
    redirect: "manual",
    headers: { ...FORM, cookie, ...headers },
    body: new URLSearchParams({ csrf: csrfOf(shown.text), code: userCode }),
  });
  return { status: response.status, text: await response.text() };
}

/** A person's machine: a HOME and a working directory of its own, no ECF_AUTHTOKENS. */
export function machine() {
  const home = temporaryDirectory("gatehouse-login-home-");
  const cwd = temporaryDirectory("gatehouse-login-cwd-");
  return { home, cwd };
}

/** Runs a gatehouse command; `output()` waits for stderr to match, `done` for the exit. */
export function run(where: { home: string; cwd: string }, ...args: string[]) {
  const env: Record<string, string | undefined> = { ...process.env, HOME: where.home };
  delete env.ECF_AUTHTOKENS;
  delete env.GATEHOUSE_SERVER;
  delete env.GATEHOUSE_CA_FILE;
  const child = Bun.spawn([process.execPath, "run", join(projectRoot, "src/main.ts"), ...args], { cwd: where.cwd, env, stdout: "pipe", stderr: "pipe" });
  let stderr = "";
  const waiting: { pattern: RegExp; resolve: (match: RegExpMatchArray) => void }[] = [];
  const pumped = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      stderr += decoder.decode(chunk, { stream: true });
      for (const wait of [...waiting]) {
        const match = stderr.match(wait.pattern);
        if (match) {
          waiting.splice(waiting.indexOf(wait), 1);
          wait.resolve(match);
        }
      }
    }
  })();
  const done = Promise.all([child.exited, new Response(child.stdout).text(), pumped]).then(([code, stdout]) => ({ code, stdout, stderr }));
  return {
    done,
    output(pattern: RegExp): Promise<RegExpMatchArray> {
      const match = stderr.match(pattern);
      if (match) return Promise.resolve(match);
      return Promise.race([
        new Promise<RegExpMatchArray>((resolve) => waiting.push({ pattern, resolve })),
        done.then((result) => {
          throw new Error(`exited with ${result.code} before printing ${pattern}:\n${result.stderr}`);
        }),
      ]);
    },
  };
}

/** What login prints for the person: the link to open and the code. */
export async function prompt(login: ReturnType<typeof run>) {
  const [, link] = await login.output(/open this page in a browser:\n\n {2}(\S+)\n/);
  const [, code] = await login.output(/shows the code ([A-Z0-9]{4}-[A-Z0-9]{4})/);
  return { link, code };
}

