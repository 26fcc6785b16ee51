// A device host for OS-update tests: the fake bootc (test/fixtures/fake-bootc/bootc) on the PATH its commands run
// with, its state in a temp file; every other command recorded as the recording executor does; and a reboot stand-in
// behind the executor's reboot: the fake bootc "boots" (its staged image, unless told that image fails to boot), the
// kernel's boot id under the device root changes, and the test's restart (a new agent instance) runs. Without bootc
// (`bootc: false`) the host is a package-mode device: no bootc on its PATH.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { realExecutor, recordingExecutor, type Executor } from "../../agent/host.js";

export const FAKE_BOOTC_BIN = fileURLToPath(new URL("../fixtures/fake-bootc", import.meta.url));
const BOOT_ID = "/proc/sys/kernel/random/boot_id";

/** A deployment as the fake keeps it. */
export interface FakeDeployment {
  image: string;
  transport: string;
  imageDigest: string;
}

export interface FakeBootcState {
  booted: FakeDeployment | null;
  staged: FakeDeployment | null;
  rollback: FakeDeployment | null;
  failToBoot?: string[];
}

export interface TestDevice extends Executor {
  /** Every command line, in order (bootc's too); a reboot is the line "reboot". */
  commands: string[];
  /** The fake bootc's state now. */
  bootc(): FakeBootcState;
  /** The next boot of `image` fails (greenboot rolls back). */
  failToBoot(image: string): void;
  /** Commands whose line matches fail (as the recording executor's failOn); bootc's never. */
  failOn?: RegExp;
  /** How many reboots ran. */
  reboots: number;
  /** Called after each reboot stand-in: restart the agent there. */
  onReboot?: () => Promise<void>;
  /** Resolves when the last reboot's restart finished. */
  rebooted: Promise<void>;
}

/**
 * A device host under `dir` whose root is `root`: with bootc (booted `bootedImage`) or without (package mode). The
 * boot id starts as "boot-1".
 */
export function testDevice(dir: string, root: string, opts: { bootedImage?: string; bootc?: boolean } = {}): TestDevice {
  mkdirSync(join(root, "proc/sys/kernel/random"), { recursive: true });
  writeFileSync(join(root, BOOT_ID), "boot-1\n");
  const withBootc = opts.bootc ?? true;
  const stateFile = join(dir, "bootc-state.json");
  if (withBootc) {
    const image = opts.bootedImage ?? "quay.io/example/os:1";
    const booted = { image, transport: "registry", imageDigest: `sha256:${"0".repeat(63)}1` };
    writeFileSync(stateFile, JSON.stringify({ booted, staged: null, rollback: null }));
  }
  // The device's PATH: the fake bootc first (when there is one), then this machine's (which has no bootc).
  const path = [...(withBootc ? [FAKE_BOOTC_BIN] : []), process.env.PATH ?? ""].join(delimiter);
  const env = { PATH: path, FAKE_BOOTC_STATE: stateFile };
  const recording = recordingExecutor();
  const onPath = (cmd: string) => path.split(delimiter).some((d) => d && existsSync(join(d, cmd)));
  const device: TestDevice = {
    commands: recording.commands,
    reboots: 0,
    rebooted: Promise.resolve(),
    async run(cmd, args, o) {
      recording.failOn = device.failOn;
      if (cmd !== "bootc") return recording.run(cmd, args, o);
      recording.commands.push([cmd, ...args].join(" "));
      // Run as the device would: bootc found on its PATH, or not at all.
      return realExecutor.run(cmd, args, { ...o, env: { ...o?.env, ...env } });
    },
    available: (cmd) => (cmd === "bootc" ? onPath(cmd) : recording.available(cmd)),
    stream: (cmd, args, cb, o) => recording.stream(cmd, args, cb, o),
    async reboot() {
      recording.commands.push("reboot");
      device.reboots++;
      // The host takes the request and reboots a moment later, as `systemctl reboot` does: the agent is still in its
      // update when this returns, and the restart (which stops that agent) must not wait for it here.
      device.rebooted = new Promise<void>((resolve, reject) =>
        setImmediate(() => {
          if (withBootc) execFileSync("bootc", ["fake-boot"], { env: { ...process.env, ...env } });
          writeFileSync(join(root, BOOT_ID), `boot-${device.reboots + 1}\n`);
          (device.onReboot?.() ?? Promise.resolve()).then(resolve, reject);
        }),
      );
      return { code: 0, stdout: "", stderr: "" };
    },
    bootc: () => JSON.parse(readFileSync(stateFile, "utf8")) as FakeBootcState,
    failToBoot(image) {
      const s = device.bootc();
      s.failToBoot = [...(s.failToBoot ?? []), image];
      writeFileSync(stateFile, JSON.stringify(s));
    },
  };
  return device;
}
