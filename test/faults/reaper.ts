// Whatever the harness starts (service processes, the simulator, redis-server, the detached postmaster) is stopped
// when the harness process ends, even by a signal or an uncaught error: a leftover would hold ports and CPU on a
// shared machine. Only synchronous work is possible at exit, so each entry is a synchronous kill.
const reapers = new Set<() => void>();
let installed = false;

function reapAll() {
  for (const r of reapers) {
    try {
      r();
    } catch {
      // already gone
    }
  }
  reapers.clear();
}

/** Registers a synchronous kill to run at exit; returns its removal. */
export function onHarnessExit(reap: () => void): () => void {
  if (!installed) {
    installed = true;
    process.on("exit", reapAll);
    // node:test stops a file's process with SIGTERM on timeout; Ctrl-C sends SIGINT.
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      process.once(sig, () => {
        reapAll();
        process.exit(sig === "SIGINT" ? 130 : 143);
      });
    }
  }
  reapers.add(reap);
  return () => reapers.delete(reap);
}
