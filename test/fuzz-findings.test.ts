// Regression tests for what the fuzzer found (test/fuzz-harness.ts).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { basic, startApp, type TestApp } from "./helpers/app.ts";
import { temporaryDirectory } from "./helpers/gatehouse.ts";

let app: TestApp;
beforeAll(async () => {
  app = await startApp({
    version: "2.0.0",
    providers: [{ type: "plain", name: "local", realm: "local", users: [{ username: "alice", password: "alice-pw" }] }],
    jwt: { iss: "findings", secret: "findings-secret-0123456789abcdef0123" },
    store: { enabled: true, path: `${temporaryDirectory("gatehouse-findings-")}/gatehouse.db` },
    services: [{ name: "ecflow", scopes: ["read"] }],
  });
});
afterAll(() => app.stop());

/** Sends a request with the given Host header over a raw socket; the status line and body. */
async function withHost(host: string, requestLine: string, extra = ""): Promise<{ status: number; body: string }> {
  const { port } = new URL(app.url);
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    Bun.connect({
      hostname: "127.0.0.1",
      port: Number(port),
      socket: {
        open: (socket) => void socket.write(`${requestLine} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n${extra}\r\n`),
        data: (_socket, data) => void chunks.push(Buffer.from(data)),
        close: () => resolve(),
        error: (_socket, error) => reject(error),
      },
    }).catch(reject);
  });
  const text = Buffer.concat(chunks).toString("utf8");
  return { status: Number(text.split(" ")[1]), body: text.slice(text.indexOf("\r\n\r\n") + 4) };
}

test("an empty Host header is a 400 with a JSON error, not a 500 with Bun's error page", async () => {
  for (const path of ["/api/v1/", "/nope", "/authenticate", "/api/v1/tokens"]) {
    const answer = await withHost("", `GET ${path}`);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body).error).toContain("The Host header");
  }
});

test("a short Host header does not make the router serve another path than the one asked", async () => {
  // With `Host: a`, Elysia would read "/api/v1/tokens" as "/v1/tokens" (it searches the path from index 11).
  const answer = await withHost("a", "GET /token/");
  expect(answer.status).toBe(400);
  const normal = await withHost("localhost", "GET /token/");
  expect(normal.status).not.toBe(200); // "/token/" is not the index page
  const authenticated = await withHost("abcd", "GET /authenticate", `Authorization: ${basic("alice", "alice-pw")}\r\n`);
  expect(authenticated.status).toBe(200); // four characters and more are routed as asked
});

// Found before main's JSON body parser (modules/errors.ts): a JSON body that was not an object
// ([], 1, "x", null, [[[…]]]) created a token with the defaults (201).
test("POST /api/v1/tokens refuses a JSON body that is not an object", async () => {
  for (const body of ["[]", "1", '"x"', "null", "[[1]]"]) {
    const response = await fetch(`${app.url}/api/v1/tokens`, {
      method: "POST",
      headers: { authorization: basic("alice", "alice-pw"), "content-type": "application/json" },
      body,
    });
    expect(response.status).toBe(400);
  }
});

// Found by fuzzing: publicBaseUrl (modules/public-url.ts) accepted "::1" as a forwarded host, then the
// portal's `new URL(publicBaseUrl(request))` threw "Invalid URL": a 500 on every route that identifies the caller.
test("an X-Forwarded-Host that is not a valid host is not a 500", async () => {
  for (const host of ["::1", "a:b:c", "[::1"]) {
    for (const path of ["/whoami", "/api/v1/tokens", "/api/v1/auth/apikey?first_eight=x"]) {
      const response = await fetch(`${app.url}${path}`, { headers: { "x-forwarded-host": host } });
      expect(response.status).toBeLessThan(500);
    }
  }
});
