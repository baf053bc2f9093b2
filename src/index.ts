/** The Worker with D1 (the `DB` binding): what `npm start`, `npm test` and `npm run deploy` use. */
import { d1Backend } from "./db/d1";
import { createWorker } from "./worker";

export default createWorker(d1Backend);
