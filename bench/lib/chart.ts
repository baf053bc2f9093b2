export type ChartRow = {
  name: string;
  requestsPerSecond: number;
  group: "ceiling" | "read" | "write" | "node" | "peer";
};

const colours: Record<ChartRow["group"], string> = {
  ceiling: "#404040",
  read: "#f38020",
  write: "#fbad41",
  node: "#5b8def",
  peer: "#8a8a8a",
};

/**
 * A horizontal bar chart of throughput as an SVG, with the hello-world ceiling marked: edge-users
 * in Cloudflare orange (reads dark, writes light), edge-users on Node blue, the ceiling dark grey, the
 * Express peer grey. On
 * a white ground, so it reads the same in a dark-mode viewer.
 */
export function throughputChart(rows: ChartRow[], ceiling: number, cores: number): string {
  const [labelWidth, barWidth, rowHeight, top] = [330, 420, 26, 40];
  const max = Math.max(ceiling, ...rows.map((row) => row.requestsPerSecond));
  const x = (value: number) => labelWidth + (value / max) * barWidth;
  const xmlText = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const bars = rows
    .map((row, i) => {
      const y = top + i * rowHeight;
      const width = Math.max(1, x(row.requestsPerSecond) - labelWidth);
      return [
        `<text x="${labelWidth - 8}" y="${y + 16}" text-anchor="end">${xmlText(row.name)}</text>`,
        `<rect x="${labelWidth}" y="${y + 4}" width="${width.toFixed(1)}" height="${rowHeight - 8}" fill="${colours[row.group]}"/>`,
        `<text x="${(labelWidth + width + 6).toFixed(1)}" y="${y + 16}">${row.requestsPerSecond.toLocaleString("en-US")}/s · ${(row.requestsPerSecond / ceiling).toFixed(2)}×</text>`,
      ].join("");
    })
    .join("\n");
  const height = top + rows.length * rowHeight + 20;
  const ceilingX = x(ceiling).toFixed(1);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidth + barWidth + 150}" height="${height}" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="10" y="22" font-size="15" font-weight="bold">Requests per second (median of rounds, local workerd, ${cores} cores)</text>
${bars}
<line x1="${ceilingX}" y1="${top}" x2="${ceilingX}" y2="${height - 16}" stroke="#333" stroke-dasharray="4 3"/>
<text x="${ceilingX}" y="${height - 4}" text-anchor="middle" font-size="11">hello-world ceiling</text>
</svg>
`;
}
