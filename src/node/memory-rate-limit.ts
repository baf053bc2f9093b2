import type { RateLimitPolicy } from "../limits/policies";

/**
 * A fixed-window counter per key, in process memory: the Rate Limiting binding's stand-in when
 * the app runs as one Node process. Windows are aligned to the period, as the binding's are.
 */
export function createMemoryRateLimit(
  { limit, periodSeconds }: Pick<RateLimitPolicy, "limit" | "periodSeconds">,
  now = Date.now,
): RateLimit {
  const windows = new Map<string, { window: number; count: number }>();
  return {
    async limit({ key }) {
      const window = Math.floor(now() / (periodSeconds * 1000));
      const current = windows.get(key);
      const count = current?.window === window ? current.count + 1 : 1;
      windows.set(key, { window, count });
      if (windows.size > 100_000) {
        for (const [staleKey, entry] of windows) if (entry.window < window) windows.delete(staleKey);
      }
      return { success: count <= limit };
    },
  };
}
