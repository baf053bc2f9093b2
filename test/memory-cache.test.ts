import { describe, expect, it } from "vitest";
import { createMemoryCache } from "../src/cache/memory-cache";

describe("memory tier (per-isolate LRU with TTL)", () => {
  it("never holds more than maxEntries: the least recently used goes first", () => {
    const cache = createMemoryCache<number>({ maxEntries: 3, ttlMs: 60_000 });
    for (const key of ["a", "b", "c"]) cache.set(key, 1);
    cache.get("a");
    cache.set("d", 1);
    expect(cache.size).toBe(3);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toBe(1);
    for (let i = 0; i < 1000; i++) cache.set(`k${i}`, i);
    expect(cache.size).toBe(3);
  });

  it("an entry older than the TTL is gone", () => {
    let now = 1000;
    const cache = createMemoryCache<string>({ maxEntries: 10, ttlMs: 5000, now: () => now });
    cache.set("k", "v");
    now += 4999;
    expect(cache.get("k")).toBe("v");
    now += 1;
    expect(cache.get("k")).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("a TTL of 0 turns the tier off", () => {
    const cache = createMemoryCache<string>({ maxEntries: 10, ttlMs: 0 });
    cache.set("k", "v");
    expect(cache.get("k")).toBeUndefined();
  });

  it("delete removes an entry", () => {
    const cache = createMemoryCache<string>({ maxEntries: 10, ttlMs: 1000 });
    cache.set("k", "v");
    cache.delete("k");
    expect(cache.get("k")).toBeUndefined();
  });
});
