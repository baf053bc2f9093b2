/**
 * npm run bench:startup: start-up alone (the first table of `npm run bench`, in a minute): module
 * evaluation in a bare V8 and a fresh workerd to its first answer, for the app and the
 * hello-world Worker (bench/lib/startup.ts).
 */
import { measureStartups, withBuiltWorker } from "./lib/harness";
import { startupTable } from "./lib/report";

const runs = Number(process.argv[2] ?? 5);
console.log(startupTable(await withBuiltWorker((scriptPath) => measureStartups(scriptPath, runs))));
