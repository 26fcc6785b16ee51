// flightctl deny: see approve.ts.
import { decide } from "./approve.js";

export default decide(false);
