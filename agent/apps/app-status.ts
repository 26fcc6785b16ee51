// The rules that turn an application's containers (workloads) into its reported status, and all applications into
// the device's applicationsSummary, as flightctl's agent computes them (applications.go Status, manager.go
// aggregateAppStatuses). Pure functions: the monitor feeds them what podman says.

/**
 * A container's state as the rules see it: being created or initialised, running, being stopped, exited with code 0,
 * or ended any other way (non-zero exit, killed).
 */
export type WorkloadState = "init" | "running" | "stopping" | "exited" | "died";

/** One container of an application. */
export interface Workload {
  id: string;
  name: string;
  state: WorkloadState;
  /** Restarts podman (its restart policy) or systemd made of it. */
  restarts: number;
  /** The last exit code, for a container that ended. */
  exitCode?: number;
}

/** What one application contributes to the summary (flightctl's per-app summary). */
export type AppHealth = "Healthy" | "Degraded" | "Error" | "Unknown";

export interface AppStatus {
  /** Preparing, Starting, Running, Error, Stopping, Stopped, Completed or Unknown. */
  status: string;
  /** Running containers over all of them, "2/3". */
  ready: string;
  restarts: number;
  health: AppHealth;
}

/**
 * flightctl's rules, in its order: an app asked to be stopped is Stopped once nothing of it runs (Stopping before);
 * no container yet is Unknown; some running and some initialising is Starting; only initialising is Preparing; all
 * exited with 0 is Completed; all running (or running plus exited with 0) is Running; some running is Running but
 * Degraded; none running and none starting is Error.
 */
export function appStatus(workloads: readonly Workload[], stopped: boolean): AppStatus {
  const total = workloads.length;
  const count = (s: WorkloadState) => workloads.filter((w) => w.state === s).length;
  const running = count("running");
  const init = count("init");
  const exited = count("exited");
  const ended = exited + count("died");
  const restarts = workloads.reduce((n, w) => n + w.restarts, 0);
  const r = (status: string, health: AppHealth): AppStatus => ({ status, ready: `${running}/${total}`, restarts, health });
  if (stopped) return total === 0 || ended === total ? r("Stopped", "Healthy") : r("Stopping", "Degraded");
  if (total === 0) return r("Unknown", "Unknown");
  if (init > 0) return running > 0 ? r("Starting", "Degraded") : r("Preparing", "Unknown");
  if (exited === total) return r("Completed", "Healthy");
  if (running + exited === total) return r("Running", "Healthy");
  if (running > 0) return r("Running", "Degraded");
  return r("Error", "Error");
}

/** flightctl's cap on the summary's info. */
const MAX_INFO = 256;

/**
 * The device's applicationsSummary: Error if any app is in error, else Degraded if any is degraded or not started
 * (Unknown), else Healthy; NoApplications without apps. The info names the apps at fault, errors first.
 */
export function summarize(apps: readonly { name: string; health: AppHealth }[]): { status: string; info?: string } {
  if (apps.length === 0) return { status: "NoApplications" };
  const sorted = [...apps].sort((a, b) => a.name.localeCompare(b.name));
  const errors = sorted.filter((a) => a.health === "Error").map((a) => `${a.name} is in status Error`);
  const degraded = sorted.flatMap((a) =>
    a.health === "Degraded" ? [`${a.name} is in status Degraded`] : a.health === "Unknown" ? [`Not started: ${a.name}`] : [],
  );
  const status = errors.length ? "Error" : degraded.length ? "Degraded" : "Healthy";
  if (status === "Healthy") return { status };
  const info = [...errors, ...degraded].join(", ");
  return { status, info: info.length > MAX_INFO ? `${info.slice(0, MAX_INFO - 3)}...` : info };
}
