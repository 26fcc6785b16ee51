// Reboot detection as flightctl's: the kernel's boot id, compared with the one kept in <data-dir>/system.json. A
// device root without /proc (tests, the simulator) has no boot id and so never counts as rebooted.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { HostFs } from "./host.js";

const BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id";

/** This boot's id, and whether the system rebooted since the agent last ran (never on the first run). */
export function checkBoot(fs: HostFs, dataDir: string): { bootId: string; rebooted: boolean } {
  const bootId = fs.read(BOOT_ID_PATH)?.toString("utf8").trim() ?? "";
  const file = join(dataDir, "system.json");
  let previous = "";
  try {
    // Read without an existence check: it is there on every start but the first.
    previous = String((JSON.parse(readFileSync(file, "utf8")) as { bootID?: string }).bootID ?? "");
  } catch {
    // None (the first run) or a damaged file: the next run compares against what is written now.
  }
  if (bootId !== previous) writeFileSync(file, JSON.stringify({ bootID: bootId }), { mode: 0o644 });
  return { bootId, rebooted: previous !== "" && bootId !== previous };
}
