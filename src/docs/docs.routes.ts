import { createRouter } from "../http/router";

/**
 * The version of `@scalar/api-reference` whose browser bundle `npm run build:assets` copies into
 * public/docs/assets/ (package.json pins it exactly; test/node/config.test.ts checks the two agree).
 */
export const SCALAR_VERSION = "1.76.0";

// Scalar reads its configuration from the script element's attributes, so the page has no inline
// script. Off: web fonts, the "open in API client" link, the developer tools, the AI agent and MCP
// panels, telemetry: each would reach a host of Scalar's. No proxy: "Test request" calls this API.
const configuration = {
  withDefaultFonts: false,
  telemetry: false,
  showDeveloperTools: "never",
  agent: { disabled: true },
  mcp: { disabled: true },
  hideClientButton: true,
};

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge-users API</title>
</head>
<body>
<script id="api-reference" type="application/json" data-url="/openapi.json" data-configuration='${JSON.stringify(configuration)}'></script>
<script src="/docs/assets/scalar-${SCALAR_VERSION}.js"></script>
</body>
</html>
`;

/**
 * `GET /docs`: the interactive API reference, entirely from this origin (the script is a static
 * asset of this Worker, public/docs/assets/), so it works with no network. Its CSP is in
 * src/middleware/edge-security.ts.
 */
export const docsRouter = createRouter().get("/docs", (c) => c.html(page));
