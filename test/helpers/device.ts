// A person at the portal's device page, over plain HTTP (test/device-flow.test.ts, test/login-cli.test.ts).
import { expect } from "bun:test";

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
