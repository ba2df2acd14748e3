import { describe, expect, test } from "bun:test";
import { looksLikeJwt, parseAuthorization } from "../src/identity/credentials.ts";
import { basic } from "./helpers/app.ts";

const ok = (header: string) => {
  const result = parseAuthorization(header);
  if (!result.ok) throw new Error(`refused: ${result.reason}`);
  return result.credentials;
};
const refusal = (header: string | null) => {
  const result = parseAuthorization(header);
  return result.ok ? "accepted" : result.reason;
};

describe("parsing the Authorization header", () => {
  test("Basic, its alias Plain, and Bearer, with any case of scheme", () => {
    expect(ok(basic("alice", "pw"))).toEqual([{ scheme: "basic", username: "alice", password: "pw" }]);
    expect(ok(`plain ${btoa("alice:pw")}`)).toEqual([{ scheme: "basic", username: "alice", password: "pw" }]);
    expect(ok("BEARER abc.def-_~+/=")).toEqual([{ scheme: "bearer", token: "abc.def-_~+/=" }]);
  });

  test("the password may contain colons and be empty; unicode survives", () => {
    expect(ok(basic("alice", "a:b:c"))[0]).toMatchObject({ password: "a:b:c" });
    expect(ok(basic("alice", ""))[0]).toMatchObject({ password: "" });
    expect(ok(basic("用户", "密码"))[0]).toMatchObject({ username: "用户", password: "密码" });
  });

  test("several credentials, separated by commas, in order, one per scheme", () => {
    const header = `${basic("a", "1")}, Bearer tok,Apikey key`;
    expect(ok(header)).toEqual([
      { scheme: "basic", username: "a", password: "1" },
      { scheme: "bearer", token: "tok" },
      { scheme: "bearer", token: "key", apikey: true },
    ]);
  });

  test("a repeated scheme refuses the header, as auth-o-tron 0.4.0 (Plain counts as Basic)", () => {
    expect(refusal("Bearer a, Bearer b")).toBe("repeated authorization scheme");
    expect(refusal("Bearer a, bearer a")).toBe("repeated authorization scheme");
    expect(refusal(`${basic("a", "1")}, Plain ${btoa("b:2")}`)).toBe("repeated authorization scheme");
    expect(refusal("Negotiate x, Negotiate y")).toBe("repeated authorization scheme");
  });

  test("a part of an unknown scheme is skipped; the others are used", () => {
    expect(ok(`Negotiate x, ${basic("a", "good")}`)).toEqual([{ scheme: "basic", username: "a", password: "good" }]);
    expect(ok("Digest abc")).toEqual([]);
  });

  test("at most three parts, counted as written", () => {
    expect(ok(`${basic("a", "1")}, Bearer b, Negotiate c`)).toHaveLength(2);
    expect(refusal(`${basic("a", "1")}, Bearer b, Negotiate c, Apikey d`)).toBe("too many credentials");
    expect(refusal("Bearer a,,,")).toBe("too many credentials");
  });

  test("malformed headers are refused with a reason", () => {
    expect(refusal(null)).toBe("no credentials");
    expect(refusal("")).toBe("no credentials");
    expect(refusal("   ")).toBe("no credentials");
    expect(refusal(" , ")).toBe("empty credential");
    expect(refusal("Bearer abc,")).toBe("empty credential");
    expect(refusal(", Bearer abc")).toBe("empty credential");
    expect(refusal("Basic")).toBe("credential without a scheme");
    expect(refusal("Basic not base64!")).toBe("malformed credential");
    expect(refusal("Bearer a b")).toBe("malformed credential");
    expect(refusal("Neg(otiate) abc")).toBe("malformed credential");
    expect(refusal("Basic !!!!")).toBe("basic credential is not valid base64");
    expect(refusal(`Basic ${btoa("nocolon")}`)).toBe("basic credential has no colon");
    expect(refusal(`Basic ${btoa(":pw")}`)).toBe("basic credential has an empty username");
    expect(refusal(`Basic ${Buffer.from([0xff, 0xfe, 0x3a]).toString("base64")}`)).toBe("basic credential is not valid UTF-8");
    expect(refusal(`Basic ${btoa("a\r\nX-Auth-Username: root:pw")}`)).toBe("basic credential contains control characters");
    expect(refusal("Negotiate a\u0001b")).toBe("credential contains control characters");
    expect(refusal("Bearer a<b")).toBe("bearer token has invalid characters");
    expect(refusal(`Bearer ${"a".repeat(9000)}`)).toBe("authorization header too long");
    // One bad element spoils the whole header: nothing half-parsed reaches a provider.
    expect(refusal(`${basic("a", "1")}, Bearer bad<token`)).toBe("bearer token has invalid characters");
  });

  test("JWT shape detection", () => {
    expect(looksLikeJwt("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")).toBe(true);
    expect(looksLikeJwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")).toBe(true);
    expect(looksLikeJwt("abcdef0123456789")).toBe(false);
    expect(looksLikeJwt("eyJ.only-two")).toBe(false);
  });
});
