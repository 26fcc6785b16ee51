// The simulator's image-mode host: the recording executor plus a bootc kept in a small JSON file per device (no
// process per command, for thousands of agents) and a reboot that boots the staged image, gives the device a new
// boot id and starts its agent again, so a simulated fleet goes through OS updates as real devices do. A device
// with `failToBoot` images listed in that file comes back on its old image, as after a greenboot rollback. The
// device's files are `fs` (kept in memory by the simulator); its boot id is also kept in a file beside the bootc
// state, so a simulator started again is not a reboot of every device. Both files change only on an OS update.
import { createHash, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { CommandResult, HostFs, RecordingExecutor } from "./host.js";

const BOOT_ID = "/proc/sys/kernel/random/boot_id";

interface Deployment {
  image: string;
  imageDigest: string;
}
interface State {
  booted: Deployment | null;
  staged: Deployment | null;
  rollback: Deployment | null;
  failToBoot?: string[];
}

const ok = (stdout = ""): CommandResult => ({ code: 0, stdout, stderr: "" });
const slot = (d: Deployment | null) =>
  d ? { image: { image: { image: d.image, transport: "containers-storage" }, imageDigest: d.imageDigest } } : null;

/**
 * Makes `exec` the host of one simulated device with files `fs`, its bootc state in `stateFile` and boot id in
 * `bootIdFile`; `restart` is what a reboot does to the agent once the host "came up" again.
 */
export function simulatedHost(
  exec: RecordingExecutor,
  fs: HostFs,
  stateFile: string,
  bootIdFile: string,
  restart: () => Promise<void>,
): RecordingExecutor {
  // A boot id from the start: the agent counts a reboot only when a known one changes.
  const setBootId = (id: string) => {
    mkdirSync(dirname(bootIdFile), { recursive: true });
    writeFileSync(bootIdFile, id);
    fs.write(BOOT_ID, id);
  };
  let held: string | undefined;
  try {
    held = readFileSync(bootIdFile, "utf8"); // there on every start but the first: no existence check before
  } catch {
    // the device's first start
  }
  if (held !== undefined) fs.write(BOOT_ID, held);
  else setBootId(`${randomUUID()}\n`);
  const load = (): State =>
    existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, "utf8")) : { booted: null, staged: null, rollback: null };
  const save = (s: State) => writeFileSync(stateFile, JSON.stringify(s));
  const record = exec.run.bind(exec);
  exec.run = async (cmd, args, opts) => {
    if (cmd !== "bootc") return record(cmd, args, opts);
    const r = await record(cmd, args, opts);
    if (r.code !== 0) return r;
    const s = load();
    if (args[0] === "status")
      return ok(
        JSON.stringify({
          apiVersion: "org.containers.bootc/v1alpha1",
          kind: "BootcHost",
          status: { booted: slot(s.booted), staged: slot(s.staged), rollback: slot(s.rollback), type: "bootcHost" },
        }),
      );
    if (args[0] === "switch") {
      const image = args.at(-1)!;
      s.staged = { image, imageDigest: `sha256:${createHash("sha256").update(image).digest("hex")}` };
      save(s);
    }
    return r;
  };
  exec.reboot = async () => {
    exec.commands.push("systemctl reboot");
    // The agent finishes its turn before the "power cycle", as with a real `systemctl reboot`.
    setImmediate(() => {
      const s = load();
      if (s.staged) {
        if (s.failToBoot?.includes(s.staged.image)) s.rollback = s.staged;
        else [s.rollback, s.booted] = [s.booted, s.staged];
        s.staged = null;
        save(s);
      }
      setBootId(`${randomUUID()}\n`);
      void restart();
    });
    return ok();
  };
  return exec;
}
