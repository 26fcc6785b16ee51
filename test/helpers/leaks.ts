// Leak guard: fails a test file that leaves sockets, servers, timers, child processes or watchers open after its
// cleanup. Uses process.getActiveResourcesInfo() (ref'ed handles only; unref'ed timers do not keep a process alive and
// are not counted). Call it last in `after`, once pools/servers/workers are closed:
//
//   after(async () => { await db.drop(); await assertNoOpenHandles(); });
import assert from "node:assert/strict";

function counts(): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) m.set(r, (m.get(r) ?? 0) + 1);
  return m;
}

// What the process holds before the test file opens anything (node:test's own IPC pipes); taken at first import,
// so import this helper before modules that open handles at load time.
const baseline = counts();

function excess(allow: Set<string>): string[] {
  const out: string[] = [];
  for (const [type, n] of counts()) {
    const extra = n - (baseline.get(type) ?? 0);
    if (extra > 0 && !allow.has(type)) out.push(`${extra} × ${type}`);
  }
  return out;
}

export interface LeakCheckOptions {
  /** Resource types to ignore, e.g. ["Timeout"] for a library with a process-wide timer. */
  allow?: string[];
  /** How long closing handles may take to go away (sockets close a few ms after pool.end()). */
  graceMs?: number;
  /**
   * On a leak, also end the process 2 s later (after node:test has reported the failure): the leaked handle would
   * otherwise keep the test file's process, and so the whole `npm test`, alive forever. Default true.
   */
  exitOnLeak?: boolean;
}

/** Resolves when no handles beyond the baseline remain; throws an AssertionError naming them after the grace time. */
export async function assertNoOpenHandles(opts: LeakCheckOptions = {}): Promise<void> {
  const allow = new Set(opts.allow ?? []);
  const deadline = Date.now() + (opts.graceMs ?? 2000);
  let left = excess(allow);
  while (left.length > 0 && Date.now() < deadline) {
    // A ref'ed timer keeps the loop alive while we wait; it has fired (and left the list) before we count again.
    await new Promise((r) => setTimeout(r, 10));
    left = excess(allow);
  }
  if (left.length > 0 && opts.exitOnLeak !== false) setTimeout(() => process.exit(1), 2000).unref();
  assert.deepEqual(left, [], `open handles left after cleanup: ${left.join(", ")} (close pools, servers, workers, timers)`);
}
