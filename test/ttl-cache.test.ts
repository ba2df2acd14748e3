// The bounded TTL cache behind remembered answers (found by the soak: expired
// entries whose key never came back stayed until the cache was full).
import { expect, test } from "bun:test";
import { TtlCache } from "../src/identity/ttl-cache.ts";

test("expired entries are dropped as new ones arrive, not only when their key is asked again", () => {
  const cache = new TtlCache<number>(1000, 50_000);
  for (let index = 0; index < 1000; index++) cache.set(`old-${index}`, index, 0);
  expect(cache.size).toBe(1000);
  cache.set("new", 1, 5000); // every old entry expired at 1000
  expect(cache.size).toBe(1);
  expect(cache.get("new", 5000)).toBe(1);
});

test("live entries stay; the cap still evicts the oldest", () => {
  const cache = new TtlCache<number>(10_000, 3);
  cache.set("a", 1, 0);
  cache.set("b", 2, 1);
  cache.set("c", 3, 2);
  cache.set("d", 4, 3);
  expect(cache.get("a", 4)).toBeUndefined();
  expect([cache.get("b", 4), cache.get("c", 4), cache.get("d", 4)]).toEqual([2, 3, 4]);
});
