// flightctl-periodic: a job runner that also schedules the crontab (server/jobs/crontab.ts); graphile-worker
// coordinates crontabs across runners, so any number may run. The same settings as flightctl-worker.
import { pathToFileURL } from "node:url";
import { main as worker } from "./worker.js";

/** Runs the process from its configuration (also the bin entry point). */
export const main = () => worker(true);

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
