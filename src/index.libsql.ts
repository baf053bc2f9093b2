/**
 * The Worker with libSQL (Turso) at LIBSQL_URL instead of D1: `npm run deploy:libsql`. A separate
 * entry point, so the D1 build carries none of libSQL's client.
 */
import { libsqlBackend } from "./db/libsql";
import { createWorker } from "./worker";

export default createWorker(libsqlBackend);
