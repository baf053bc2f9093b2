/**
 * The part of a Workers KV namespace edge-users uses (get, put with a TTL, delete), in process
 * memory: the cache tier when the app runs on Node. Bounded: past `maxEntries` the oldest go.
 */
export function createMemoryKv({ maxEntries = 10_000, now = Date.now } = {}): KVNamespace {
  const entries = new Map<string, { value: string; expiresAt: number }>();
  const live = (key: string) => {
    const entry = entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt > now()) return entry;
    entries.delete(key);
    return undefined;
  };
  const kv = {
    async get(key: string, type?: unknown) {
      const entry = live(key);
      if (!entry) return null;
      const format = typeof type === "string" ? type : (type as { type?: string } | undefined)?.type;
      return format === "json" ? JSON.parse(entry.value) : entry.value;
    },
    async put(key: string, value: string, options: { expirationTtl?: number; expiration?: number } = {}) {
      const expiresAt = options.expiration
        ? options.expiration * 1000
        : options.expirationTtl
          ? now() + options.expirationTtl * 1000
          : Number.POSITIVE_INFINITY;
      entries.delete(key);
      entries.set(key, { value, expiresAt });
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest === undefined) break;
        entries.delete(oldest);
      }
    },
    async delete(key: string) {
      entries.delete(key);
    },
  };
  return kv as unknown as KVNamespace;
}
