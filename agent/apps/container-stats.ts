// CPU and memory of each application's containers, for telemetry: podman's stats of the running containers that carry
// an app's project label (agent/apps/labels.ts), so an app's containers are found whatever their names. Raw numbers
// come from `{{json .ContainerStats}}` (the plain `--format json` gives rounded, human-formatted strings).
import type { Executor } from "../host.js";
import { projectLabel } from "./labels.js";

/** One running container of an application. */
export interface AppContainerStats {
  app: string;
  container: string;
  /** CPU time used since the container started. */
  cpuSeconds: number;
  memoryBytes: number;
  /** The container's memory limit (the host's memory when it has none). */
  memoryLimitBytes: number;
}

interface PsEntry {
  Id: string;
  Names?: string[];
  Labels?: Record<string, string> | null;
}

interface RawStats {
  ContainerID: string;
  Name: string;
  CPUNano: number;
  MemUsage: number;
  MemLimit: number;
}

const TIMEOUT_MS = 15_000;

/**
 * Stats of the running containers of `apps` (name, type and host id, as the status monitor watches them). Apps run by
 * another user (runAs) live in that user's podman and are not read here. Throws with podman's message when it fails.
 */
export async function appContainerStats(
  exec: Executor,
  apps: readonly { name: string; appType: string; id: string; runAs?: string }[],
): Promise<AppContainerStats[]> {
  const mine = apps.filter((a) => !a.runAs || a.runAs === "root");
  if (!mine.length) return [];
  const ps = await exec.run("podman", ["ps", "--format", "json"], { timeoutMs: TIMEOUT_MS });
  if (ps.code !== 0) throw new Error(`podman ps: ${ps.stderr.trim()}`);
  const owner = new Map<string, string>();
  for (const c of JSON.parse(ps.stdout || "[]") as PsEntry[]) {
    const app = mine.find((a) => c.Labels?.[projectLabel(a.appType)] === a.id);
    if (app) owner.set(c.Id, app.name);
  }
  if (!owner.size) return [];
  const stats = await exec.run("podman", ["stats", "--no-stream", "--format", "{{json .ContainerStats}}", ...owner.keys()], {
    timeoutMs: TIMEOUT_MS,
  });
  // A container that stopped between the two calls makes stats fail; the next export reads again.
  if (stats.code !== 0) throw new Error(`podman stats: ${stats.stderr.trim()}`);
  const out: AppContainerStats[] = [];
  for (const line of stats.stdout.split("\n")) {
    if (!line.trim()) continue;
    const s = JSON.parse(line) as RawStats;
    const app = owner.get(s.ContainerID);
    if (!app) continue;
    out.push({ app, container: s.Name, cpuSeconds: s.CPUNano / 1e9, memoryBytes: s.MemUsage, memoryLimitBytes: s.MemLimit });
  }
  return out;
}
