/** Where `npm run start:node` keeps its database when LIBSQL_URL is not set. */
export const DEFAULT_LIBSQL_URL = "file:.data/edge-users.db";
export const DEFAULT_NODE_PORT = 8788;
