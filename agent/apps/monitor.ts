// The application status monitor: what the agent reports of each app is read from podman, never taken from the spec.
// It finds an app's containers by its project label (labels.ts), follows `podman events` as a long-running child so
// a container that exits, is killed or restarts is seen at once, and reads the full picture with `podman ps` +
// `podman container inspect` (restart counts) after events, when the app list changes and periodically (events
// missed while the stream was down, restarts podman makes without an event the agent sees). Statuses follow
// flightctl's rules (app-status.ts); a change calls onChange after a short debounce, so the agent reports within
// about a second and a burst of events is one report.
import type { Logger } from "pino";
import type {
  ApplicationProviderSpecJson,
  DeviceApplicationStatusJson,
  DeviceApplicationsSummaryStatusJson,
} from "../../gen/flightctl/v1beta1/device_pb.js";
import { appId } from "../apply.js";
import type { Executor, StreamHandle } from "../host.js";
import { appStatus, summarize, type Workload } from "./app-status.js";
import { projectLabel } from "./labels.js";
import { eventApp, parseRows, projectOf, SYSTEMD_UNIT_LABEL, workloadsByApp, type InspectRow, type PsRow } from "./podman-state.js";

/** An application of the current spec, as the monitor needs it. */
export interface WatchedApp {
  name: string;
  appType: string;
  /** appId(name): the value of its project label. */
  id: string;
  /** desiredState "stopped": no running container is then what is wanted. */
  stopped: boolean;
  runAs?: string;
}

/** The apps of a spec to watch. */
export function watchedApps(apps: readonly ApplicationProviderSpecJson[] | undefined): WatchedApp[] {
  return (apps ?? []).map((a) => {
    const name = String(a.name ?? a.image);
    return {
      name,
      appType: String(a.appType ?? "compose"),
      id: appId(name),
      stopped: a.desiredState === "stopped",
      ...(a.runAs ? { runAs: a.runAs } : {}),
    };
  });
}

export interface AppMonitorOptions {
  exec: Executor;
  log: Logger;
  /** Called (debounced) when what status() answers changed. */
  onChange: () => void;
  /** Full resync period; default 30 s. */
  resyncIntervalMs?: number;
  /** Wait after a change before onChange, so a burst is one report; default 500 ms. */
  debounceMs?: number;
  /** First delay before starting a dead events stream again, doubled per failure up to maxBackoffMs; default 1 s. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

export interface AppStatusReport {
  applications: DeviceApplicationStatusJson[];
  applicationsSummary: DeviceApplicationsSummaryStatusJson;
}

export interface AppMonitor {
  /** The apps of the spec now running (after every applied update, rollback and at start). */
  setApps(apps: WatchedApp[]): void;
  status(): AppStatusReport;
  /** The containers of app `name` as last read. */
  workloads(name: string): Workload[];
  /** Reads podman now (the next periodic resync is not waited for). */
  resync(): Promise<void>;
  close(): void;
}

/** The container events that change what an app runs (podman 4 says "died", 5 also "die"; podman ORs them). */
const EVENTS = ["create", "init", "start", "stop", "died", "exited", "remove", "pause", "unpause", "restart"];
/** A stream that ran this long had been healthy: its next failure starts the backoff again. */
const HEALTHY_STREAM_MS = 60_000;
/** Events arrive in bursts (create, init, start): one resync shortly after the first covers them. */
const EVENT_RESYNC_DELAY_MS = 150;

export function createAppMonitor(opts: AppMonitorOptions): AppMonitor {
  const { exec, log } = opts;
  const resyncEvery = opts.resyncIntervalMs ?? 30_000;
  const debounce = opts.debounceMs ?? 500;
  const backoffBase = opts.backoffMs ?? 1000;
  const backoffMax = opts.maxBackoffMs ?? 30_000;
  let apps: WatchedApp[] = [];
  let workloads = new Map<string, Workload[]>();
  let closed = false;
  let stream: StreamHandle | undefined;
  let streamStarted = 0;
  let failures = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  let resyncTimer: NodeJS.Timeout | undefined;
  let eventTimer: NodeJS.Timeout | undefined;
  let changeTimer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  let again = false;
  let lastNotified = "";
  let podmanFailing = false;

  function status(): AppStatusReport {
    const rows = apps.map((a) => ({ app: a, s: appStatus(workloads.get(a.id) ?? [], a.stopped) }));
    return {
      applications: rows.map(({ app, s }) => ({
        name: app.name,
        appType: app.appType,
        status: s.status,
        ready: s.ready,
        restarts: s.restarts,
        embedded: false,
        ...(app.runAs ? { runAs: app.runAs } : {}),
      })),
      applicationsSummary: summarize(rows.map(({ app, s }) => ({ name: app.name, health: s.health }))),
    };
  }

  /** Calls onChange once the status has stayed changed for the debounce. */
  function changed() {
    if (closed || changeTimer) return;
    changeTimer = setTimeout(() => {
      changeTimer = undefined;
      const now = JSON.stringify(status());
      if (now === lastNotified || closed) return;
      lastNotified = now;
      opts.onChange();
    }, debounce);
    changeTimer.unref();
  }

  /** Restart counts: podman's for containers it restarts itself, systemd's NRestarts for quadlet-run ones. */
  async function restartCounts(rows: PsRow[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    if (rows.length === 0) return counts;
    // A container removed between ps and inspect makes inspect fail for it only: what it printed still counts.
    const r = await exec.run("podman", ["container", "inspect", "--format", "json", ...rows.map((row) => row.Id)], { timeoutMs: 30_000 });
    try {
      for (const i of parseRows<InspectRow>(r.stdout)) counts.set(i.Id, i.RestartCount ?? 0);
    } catch (err) {
      log.debug({ err, stderr: r.stderr.trim() }, "app monitor: cannot read podman container inspect");
    }
    for (const row of rows) {
      const unit = row.Labels?.[SYSTEMD_UNIT_LABEL];
      if (!unit) continue;
      const s = await exec.run("systemctl", ["show", "--property=NRestarts", "--value", unit], { timeoutMs: 10_000 });
      const n = Number(s.stdout.trim());
      if (s.code === 0 && s.stdout.trim() && Number.isFinite(n)) counts.set(row.Id, Math.max(counts.get(row.Id) ?? 0, n));
    }
    return counts;
  }

  /** One read of podman: every container with the project label of an app type in use, then their restarts. */
  async function readPodman(): Promise<void> {
    const ids = new Set(apps.map((a) => a.id));
    const labels = [...new Set(apps.map((a) => projectLabel(a.appType)))];
    const rows: PsRow[] = [];
    for (const label of labels) {
      const r = await exec.run("podman", ["ps", "-a", "--format", "json", "--filter", `label=${label}`], { timeoutMs: 30_000 });
      if (r.code !== 0) {
        // podman missing or broken: the last reading stays (the periodic resync tries again); said once, not every time.
        if (!podmanFailing)
          log.warn({ code: r.code, err: r.stderr.trim() }, "app monitor: podman ps failed; application status not updated");
        podmanFailing = true;
        return;
      }
      rows.push(...parseRows<PsRow>(r.stdout));
    }
    if (podmanFailing) log.info("app monitor: podman ps works again");
    podmanFailing = false;
    const seen = new Set<string>();
    const mine = rows.filter((row) => {
      const app = projectOf(row.Labels);
      if (app === undefined || !ids.has(app) || seen.has(row.Id)) return false;
      seen.add(row.Id);
      return true;
    });
    const next = workloadsByApp(mine, await restartCounts(mine));
    if (closed) return;
    workloads = next;
    changed();
  }

  function resync(): Promise<void> {
    if (closed || apps.length === 0) return Promise.resolve();
    if (inFlight) {
      again = true;
      return inFlight;
    }
    inFlight = (async () => {
      try {
        do {
          again = false;
          await readPodman().catch((err: Error) => log.warn({ err: err.message }, "app monitor: cannot read podman"));
        } while (again && !closed);
      } finally {
        inFlight = undefined;
      }
    })();
    return inFlight;
  }

  function scheduleResync(delayMs: number) {
    if (eventTimer || closed) return;
    eventTimer = setTimeout(() => {
      eventTimer = undefined;
      void resync();
    }, delayMs);
    eventTimer.unref();
  }

  function startStream() {
    if (stream || closed || restartTimer) return;
    streamStarted = Date.now();
    const args = ["events", "--format", "json", "--filter", "type=container", ...EVENTS.flatMap((e) => ["--filter", `event=${e}`])];
    stream = exec.stream("podman", args, {
      onLine(line) {
        const app = eventApp(line);
        if (app && apps.some((a) => a.id === app)) scheduleResync(EVENT_RESYNC_DELAY_MS);
      },
      onExit(code, stderr) {
        stream = undefined;
        if (closed || apps.length === 0) return;
        if (Date.now() - streamStarted >= HEALTHY_STREAM_MS) failures = 0;
        const delay = Math.min(backoffMax, backoffBase * 2 ** failures++);
        log.warn({ code, err: stderr, retryInMs: delay }, "app monitor: podman events ended; starting it again");
        restartTimer = setTimeout(() => {
          restartTimer = undefined;
          startStream();
          // What happened while nobody listened.
          void resync();
        }, delay);
        restartTimer.unref();
      },
    });
  }

  function stopWatching() {
    stream?.stop();
    stream = undefined;
    for (const t of [restartTimer, resyncTimer, eventTimer]) clearTimeout(t);
    restartTimer = resyncTimer = eventTimer = undefined;
  }

  return {
    setApps(next) {
      if (closed) return;
      apps = next;
      const ids = new Set(next.map((a) => a.id));
      workloads = new Map([...workloads].filter(([id]) => ids.has(id)));
      if (next.length === 0) {
        // No apps, no podman child: most devices of a fleet without apps never start one.
        stopWatching();
        changed();
        return;
      }
      startStream();
      if (!resyncTimer) {
        resyncTimer = setInterval(() => void resync(), resyncEvery);
        resyncTimer.unref();
      }
      changed();
      void resync();
    },
    status,
    workloads: (name) => [...(workloads.get(apps.find((a) => a.name === name)?.id ?? "") ?? [])],
    resync,
    close() {
      closed = true;
      stopWatching();
      clearTimeout(changeTimer);
    },
  };
}
