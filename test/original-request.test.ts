// The request a proxy asks about, as nginx, Caddy and Traefik each describe it.
import { describe, expect, test } from "bun:test";
import { originalRequest, originalUrl } from "../src/identity/original-request.ts";

const ask = (headers: Record<string, string>, method = "GET") => originalRequest(new Request("http://127.0.0.1:9000/authenticate", { method, headers }));

describe("the original request", () => {
  test("nginx with X-Original-URL: the whole URL, and X-Original-Method", () => {
    const original = ask({ "x-original-url": "https://App1.Example.org:8443/a/b?c=d", "x-original-method": "post", host: "auth.example.org" });
    expect(original).toEqual({ scheme: "https", host: "app1.example.org", port: "8443", path: "/a/b", query: "?c=d", method: "POST" });
    expect(originalUrl(original)).toBe("https://app1.example.org:8443/a/b?c=d");
  });

  test("the seed's nginx block: Host and X-Original-URI, the subrequest's own method", () => {
    const original = ask({ host: "ecflow.example.org", "x-original-uri": "/v1/suites?x=1" }, "DELETE");
    expect(original).toEqual({ scheme: "https", host: "ecflow.example.org", port: null, path: "/v1/suites", query: "?x=1", method: "DELETE" });
  });

  test("Caddy and Traefik: X-Forwarded-Proto, -Host, -Uri, -Method (the first of a list)", () => {
    const original = ask({ "x-forwarded-proto": "http", "x-forwarded-host": "docs.example.org, other", "x-forwarded-uri": "/guide/", "x-forwarded-method": "PUT", host: "127.0.0.1:9000" });
    expect(original).toEqual({ scheme: "http", host: "docs.example.org", port: null, path: "/guide/", query: "", method: "PUT" });
  });

  test("nothing usable: no host, the path /; a host with userinfo or odd characters names nothing", () => {
    expect(ask({ "x-original-uri": "not-a-path" })).toMatchObject({ host: null, path: "/" });
    expect(ask({ host: "app.example.org", "x-original-uri": "not-a-path" })).toMatchObject({ host: "app.example.org", path: "/" });
    expect(ask({ "x-forwarded-host": "evil@example.org" }).host).toBeNull();
    expect(ask({ "x-forwarded-host": "exa mple.org" }).host).toBeNull();
    expect(ask({ "x-original-url": "javascript:alert(1)", host: "app.example.org" }).host).toBe("app.example.org");
    expect(originalUrl(ask({ "x-forwarded-host": "evil@example.org" }))).toBeNull();
  });

  test("an IPv6 host keeps its brackets", () => {
    expect(originalUrl(ask({ "x-original-url": "https://[::1]:8443/x" }))).toBe("https://[::1]:8443/x");
  });

  test("a path is taken as sent: a comma is a character of it, X-Original-URL's path is not resolved by a URL parser", () => {
    // Cut at the comma, /public,/../admin was /public to the rules and /admin to nginx.
    expect(ask({ "x-original-url": "https://app.example.org/public,/../admin?x=1,2" })).toMatchObject({ path: "/public,/../admin", query: "?x=1,2" });
    expect(ask({ "x-forwarded-host": "app.example.org", "x-forwarded-uri": "/public,/../admin" }).path).toBe("/public,/../admin");
    // A URL parser reads \ as / and resolves the dot segments: /public to it, /admin\..\public to nginx.
    expect(ask({ "x-original-url": "https://app.example.org/admin\\..\\public" }).path).toBe("/admin\\..\\public");
    expect(ask({ "x-original-url": "https://app.example.org/a/%2e%2e/b" }).path).toBe("/a/%2e%2e/b");
    expect(ask({ "x-original-url": "https://app.example.org?q" })).toMatchObject({ host: "app.example.org", path: "/", query: "?q" });
  });
});

