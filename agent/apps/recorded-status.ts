// Application status on a simulated device (agent/simulator.ts), whose recording executor runs nothing: each app is
// what its recorded commands left it, one workload running, stopped or failed, put through the same rules as a real
// device's. A real host never uses this; its status is read from podman (monitor.ts).
import { appStatus, summarize, type Workload } from "./app-status.js";
import type { AppStatusReport } from "./monitor.js";

/** An app as the last apply left it: started ("Running"), stopped, or its commands failed ("Error"). */
export interface RecordedApp {
  name: string;
  appType: string;
  status: string;
}

export function recordedAppStatus(apps: readonly RecordedApp[]): AppStatusReport {
  const rows = apps.map((a) => {
    const stopped = a.status === "Stopped";
    const one: Workload[] = stopped ? [] : [{ id: a.name, name: a.name, state: a.status === "Running" ? "running" : "died", restarts: 0 }];
    return { a, s: appStatus(one, stopped) };
  });
  return {
    applications: rows.map(({ a, s }) => ({
      name: a.name,
      appType: a.appType,
      status: s.status,
      ready: s.ready,
      restarts: 0,
      embedded: false,
    })),
    applicationsSummary: summarize(rows.map(({ a, s }) => ({ name: a.name, health: s.health }))),
  };
}
