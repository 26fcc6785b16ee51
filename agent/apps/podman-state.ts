// Reading podman's answers: `podman ps -a --format json` and `podman container inspect` rows into workloads, and one
// `podman events --format json` line into the app it concerns. Pure parsing, so the rules are tested without podman.
import type { Workload, WorkloadState } from "./app-status.js";
import { COMPOSE_PROJECT_LABEL, QUADLET_PROJECT_LABEL } from "./labels.js";

/** The fields of a `podman ps --format json` row the monitor uses. */
export interface PsRow {
  Id: string;
  Names?: string[];
  State?: string;
  ExitCode?: number;
  Labels?: Record<string, string> | null;
}

/** The fields of a `podman container inspect` entry the monitor uses. */
export interface InspectRow {
  Id: string;
  RestartCount?: number;
}

/** The systemd unit podman's quadlet generator names in the containers it runs (restarts are systemd's there). */
export const SYSTEMD_UNIT_LABEL = "PODMAN_SYSTEMD_UNIT";

/** The app id a container or event belongs to, by its project label. */
export function projectOf(labels: Record<string, string> | null | undefined): string | undefined {
  return labels?.[COMPOSE_PROJECT_LABEL] ?? labels?.[QUADLET_PROJECT_LABEL];
}

/**
 * podman's container states as workload states: created/configured/initialized are not started yet; running runs;
 * stopping and paused do not serve but have not ended; exited/stopped ended, cleanly only with exit code 0; removing
 * is as good as gone (undefined: not counted).
 */
export function workloadState(state: string, exitCode: number | undefined): WorkloadState | undefined {
  switch (state) {
    case "created":
    case "configured":
    case "initialized":
      return "init";
    case "running":
      return "running";
    case "stopping":
    case "paused":
      return "stopping";
    case "exited":
    case "stopped":
      return exitCode === 0 ? "exited" : "died";
    case "removing":
      return undefined;
    default:
      return "died";
  }
}

/** Parses podman's JSON output; an empty answer (no containers, or podman 4's `null`) is no rows. */
export function parseRows<T>(stdout: string): T[] {
  const text = stdout.trim();
  if (!text || text === "null") return [];
  const v = JSON.parse(text) as unknown;
  return Array.isArray(v) ? (v as T[]) : [];
}

/** The workloads of each app id, from ps rows and the restart counts inspect gave (by container id). */
export function workloadsByApp(rows: readonly PsRow[], restarts: ReadonlyMap<string, number>): Map<string, Workload[]> {
  const out = new Map<string, Workload[]>();
  for (const row of rows) {
    const app = projectOf(row.Labels);
    const state = workloadState(String(row.State ?? ""), row.ExitCode);
    if (!app || !state) continue;
    const w: Workload = { id: row.Id, name: row.Names?.[0] ?? row.Id.slice(0, 12), state, restarts: restarts.get(row.Id) ?? 0 };
    if (state === "exited" || state === "died") w.exitCode = row.ExitCode;
    out.set(app, [...(out.get(app) ?? []), w]);
  }
  for (const list of out.values()) list.sort((a, b) => a.name.localeCompare(b.name));
  return out;
}

/** The app id a `podman events --format json` line is about, if it is a container event of a labelled container. */
export function eventApp(line: string): string | undefined {
  try {
    const e = JSON.parse(line) as { Type?: string; Attributes?: Record<string, string> };
    return e.Type === "container" ? projectOf(e.Attributes) : undefined;
  } catch {
    return undefined;
  }
}
