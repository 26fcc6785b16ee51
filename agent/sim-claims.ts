// A simulator's claim on its agents' directories (and so their `simulator-index`): a `claim` file with the pid and a
// run id, so two simulators beside each other on one data dir never share an agent. Only the simulator's main
// thread claims; its worker threads run the indexes it hands them.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The directory of the agent with this index: `<baseDir>/agent-NNNNN`. */
export const agentDir = (baseDir: string, i: number) => join(baseDir, `agent-${String(i).padStart(5, "0")}`);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
};

/**
 * Claims `count` agent directories (and so indexes) from `offset` up, skipping those a live simulator holds (its pid
 * and a run id in `claim`). Returns the indexes.
 */
export function claimIndexes(baseDir: string, offset: number, count: number, runId: string): number[] {
  const out: number[] = [];
  for (let i = offset; out.length < count; i++) {
    const dir = agentDir(baseDir, i);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "claim");
    let holder: { pid: number; run: string } | undefined;
    try {
      holder = JSON.parse(readFileSync(file, "utf8"));
    } catch {
      // unclaimed (or a torn file): free
    }
    if (holder && holder.run !== runId && alive(holder.pid)) continue;
    writeFileSync(file, JSON.stringify({ pid: process.pid, run: runId }));
    out.push(i);
  }
  return out;
}

export function releaseClaims(baseDir: string, indexes: number[]) {
  for (const i of indexes) rmSync(join(agentDir(baseDir, i), "claim"), { force: true });
}
