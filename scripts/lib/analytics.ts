/**
 * Runs the operator queries against the Workers Analytics Engine SQL API and renders the answers
 * as plain-text tables. The HTTP call is injected so tests can replay recorded answers.
 */
import { type AnalyticsQuery, analyticsQueries, type Window } from "./analytics-queries";

/** The SQL API's `FORMAT JSON` answer. */
export type SqlApiAnswer = {
  meta: { name: string; type: string }[];
  data: Record<string, string | number | null>[];
  rows: number;
};

export type Fetch = (input: string, init: RequestInit) => Promise<Response>;

async function queryAnalytics(
  query: AnalyticsQuery,
  { accountId, apiToken, fetch }: { accountId: string; apiToken: string; fetch: Fetch },
): Promise<SqlApiAnswer> {
  const response = await fetch(`https://api.cloudflare.com/client/v4/accounts/${accountId}/analytics_engine/sql`, {
    method: "POST",
    headers: { Authorization: `Bearer ${apiToken}` },
    body: `${query.sql}\nFORMAT JSON`,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${query.name}: the SQL API answered ${response.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as SqlApiAnswer;
}

export function renderTable({ meta, data }: Pick<SqlApiAnswer, "meta" | "data">): string {
  if (data.length === 0) return "  (no data in this window)";
  const columns = meta.map((column) => column.name);
  // ClickHouse's JSON quotes 64-bit integers, so the column type, not the JSON type, says "number".
  const numeric = meta.map((column) => /Int|Float|Decimal/.test(column.type));
  const cells = data.map((row) =>
    columns.map((column, i) => formatCell(numeric[i] ? toNumber(row[column]) : row[column], column)),
  );
  const widths = columns.map((column, i) => Math.max(column.length, ...cells.map((row) => row[i]?.length ?? 0)));
  const line = (values: string[]) =>
    `  ${values.map((value, i) => (numeric[i] ? value.padStart(widths[i] ?? 0) : value.padEnd(widths[i] ?? 0))).join("  ")}`.trimEnd();
  return [line(columns), line(widths.map((width) => "-".repeat(width))), ...cells.map(line)].join("\n");
}

function toNumber(value: string | number | null | undefined): number | null {
  if (value === null || value === undefined || value === "") return null;
  const number = Number(value);
  return Number.isFinite(number) ? number : null;
}

function formatCell(value: string | number | null | undefined, column: string): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") {
    if (/ratio|rate/.test(column)) return `${(value * 100).toFixed(1)}%`;
    return Number.isInteger(value) ? value.toLocaleString("en-US") : value.toFixed(2);
  }
  return value;
}

export async function runReport(options: {
  dataset: string;
  window: Window;
  only?: string | undefined;
  accountId: string;
  apiToken: string;
  fetch: Fetch;
}): Promise<string> {
  const queries = analyticsQueries(options.dataset, options.window).filter(
    (query) => !options.only || query.name === options.only,
  );
  if (queries.length === 0) throw new Error(`no query named ${options.only}`);
  const sections: string[] = [];
  for (const query of queries) {
    const answer = await queryAnalytics(query, options);
    sections.push(`${query.title}\n${renderTable(answer)}`);
  }
  return sections.join("\n\n");
}
