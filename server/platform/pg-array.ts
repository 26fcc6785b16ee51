// Arrays as one bound parameter: the helpers live in platform/db.ts now; kept here for callers written before.
/** See platform/db.ts. */
export { pgTextArray, textArray } from "./db.js";
