// The key /authenticate remembers a verdict under (identity/secrets.ts,
// createHeaderKeyHasher): one per Authorization header and X-Auth-Realm, never
// the credential itself, and none shared by two different pairs.
import { describe, expect, test } from "bun:test";
import { createHeaderKeyHasher } from "../src/identity/secrets.ts";

describe("the key of a remembered verdict", () => {
  const key = createHeaderKeyHasher();
  const header = "Basic YWxpY2U6c2VjcmV0";

  test("the same header and realm give the same key; an absent, an empty and a named realm three others", () => {
    expect(key(header, null)).toBe(key(header, null));
    const keys = [key(header, null), key(header, ""), key(header, "local"), key(header, "ecmwf")];
    expect(new Set(keys).size).toBe(4);
  });

  test("no pair reads as another: the realm's end is marked, so moving text between realm and header changes the key", () => {
    const pairs: [string, string | null][] = [
      ["b", "a"],
      ["ab", ""],
      ["ab", null],
      ["\u0002ab", null],
      ["\u0001b", "a"],
    ];
    // NUL, the realm's end, is in no header value: Bun refuses a request that holds one.
    expect(new Set(pairs.map(([h, realm]) => key(h, realm))).size).toBe(pairs.length);
  });

  test("holds no part of the credential, and another process (another hasher) keys the same header otherwise", () => {
    const made = key(header, null);
    expect(made).not.toContain("YWxpY2U6c2VjcmV0");
    expect(made).toMatch(/^[A-Za-z0-9+/]{43}=$/); // a SHA-256 digest, base64
    expect(createHeaderKeyHasher()(header, null)).not.toBe(made);
  });
});
