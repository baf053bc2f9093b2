/**
 * The operator's questions as Analytics Engine SQL over the columns src/observability/analytics.ts writes.
 * Rows are sampled, so every count is SUM(_sample_interval) and every percentile is weighted by it.
 * Run them with `npm run analytics`, or paste them into the SQL API (docs/observability.md).
 */
export type AnalyticsQuery = { name: string; title: string; sql: string };

export type Window = { hours: number };

export function analyticsQueries(dataset: string, { hours }: Window): AnalyticsQuery[] {
  if (!/^\w+$/.test(dataset)) throw new Error(`not a dataset name: ${dataset}`);
  if (!Number.isInteger(hours) || hours < 1 || hours > 24 * 90) throw new Error("window must be 1 hour .. 90 days");
  const since = `timestamp > NOW() - INTERVAL '${hours}' HOUR`;
  const bucketMinutes = hours <= 1 ? 5 : hours <= 24 ? 60 : 24 * 60;
  const bucket = `toStartOfInterval(timestamp, INTERVAL '${bucketMinutes}' MINUTE)`;
  const requests = `blob1 = 'request' AND ${since}`;
  return [
    {
      name: "request-rate",
      title: `Requests per second (${bucketMinutes}-minute buckets)`,
      sql: `SELECT ${bucket} AS bucket, SUM(_sample_interval) / ${bucketMinutes * 60} AS requests_per_second
FROM ${dataset} WHERE ${requests}
GROUP BY bucket ORDER BY bucket`,
    },
    {
      name: "error-rate",
      title: "Error rate (share of requests answered 5xx, and 4xx)",
      sql: `SELECT ${bucket} AS bucket, SUM(_sample_interval) AS requests,
  sumIf(_sample_interval, double1 >= 500) / SUM(_sample_interval) AS server_error_rate,
  sumIf(_sample_interval, double1 >= 400 AND double1 < 500) / SUM(_sample_interval) AS client_error_rate
FROM ${dataset} WHERE ${requests}
GROUP BY bucket ORDER BY bucket`,
    },
    {
      name: "latency-by-route",
      title: "Latency by route (ms)",
      sql: `SELECT blob3 AS route, SUM(_sample_interval) AS requests,
  quantileExactWeighted(0.5, double2, _sample_interval) AS p50_ms,
  quantileExactWeighted(0.95, double2, _sample_interval) AS p95_ms,
  quantileExactWeighted(0.99, double2, _sample_interval) AS p99_ms
FROM ${dataset} WHERE ${requests}
GROUP BY route ORDER BY requests DESC LIMIT 20`,
    },
    {
      name: "cache-hit-ratio",
      title: "Cache hit ratio by route (requests that used the cache)",
      sql: `SELECT blob3 AS route, sumIf(_sample_interval, blob4 != 'none') AS cached_reads,
  sumIf(_sample_interval, blob4 = 'hit-memory') / sumIf(_sample_interval, blob4 != 'none') AS memory_hit_ratio,
  sumIf(_sample_interval, blob4 = 'hit-kv') / sumIf(_sample_interval, blob4 != 'none') AS kv_hit_ratio,
  sumIf(_sample_interval, blob4 = 'miss') / sumIf(_sample_interval, blob4 != 'none') AS miss_ratio
FROM ${dataset} WHERE ${requests} AND blob4 != 'none'
GROUP BY route ORDER BY cached_reads DESC LIMIT 20`,
    },
    {
      name: "failed-logins",
      title: "Failed sign-ins per hour",
      sql: `SELECT toStartOfInterval(timestamp, INTERVAL '60' MINUTE) AS hour, SUM(_sample_interval) AS failed_logins
FROM ${dataset} WHERE blob1 = 'login_failed' AND ${since}
GROUP BY hour ORDER BY hour`,
    },
    {
      name: "failed-login-sources",
      title: "Who is hammering sign-in (failed sign-ins by client address)",
      sql: `SELECT blob9 AS client, SUM(_sample_interval) AS failed_logins, blob5 AS colo
FROM ${dataset} WHERE blob1 = 'login_failed' AND ${since}
GROUP BY client, colo ORDER BY failed_logins DESC LIMIT 10`,
    },
    {
      name: "security-events",
      title: "Security events by kind",
      sql: `SELECT blob1 AS event, SUM(_sample_interval) AS events
FROM ${dataset} WHERE blob1 != 'request' AND ${since}
GROUP BY event ORDER BY events DESC`,
    },
  ];
}
