// OS updates as on an image-mode device (flightctl's): the new image is staged with bootc, the pending update is
// written to the data dir (it must outlive the reboot), and the host is asked to reboot. At the next start, after a
// boot id change, the image bootc booted tells the outcome: the target (the update completes) or anything else (the
// new image did not come up and greenboot/bootc went back to the old one: the update failed). A device without bootc
// is package-mode: it reports so and refuses an OS image. Status reads the booted image from bootc, never the spec.
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import type { DeviceSpecJson } from "../gen/flightctl/v1beta1/device_pb.js";
import { ApplyError } from "./apply-error.js";
import type { FileChanges } from "./apply.js";
import { bootcStatus, bootcSwitch, bootcTarget, type BootcStatus } from "./bootc.js";
import type { Executor } from "./host.js";

/** flightctl's osMode: "image" with bootc on the host, "package" without. */
export type OsMode = "image" | "package";

/** An OS update waiting for its reboot (<data-dir>/os-update.json). */
export interface PendingOsUpdate {
  /** The rendered version that switched the image. */
  version: number;
  /** os.image of that version, and the reference bootc was given for it (what it must boot). */
  image: string;
  target: string;
  /** The image booted when it was staged. */
  previous: string;
  /** The config files the version changed: its afterupdating hooks run after the reboot and see them. */
  changes: FileChanges;
}

export function createOsManager(exec: Executor, dataDir: string, log: Logger) {
  const mode: OsMode = exec.available("bootc") ? "image" : "package";
  const file = join(dataDir, "os-update.json");
  /** What bootc said last: the booted image only changes across a reboot (a new agent start), so it is read at start
   * and after a switch, not for every status report. */
  let host: BootcStatus = {};

  async function read(image: string): Promise<BootcStatus> {
    try {
      return (host = await bootcStatus(exec));
    } catch (e) {
      throw new ApplyError("os", image, `cannot read the booted image: ${(e as Error).message}`);
    }
  }

  return {
    mode,
    /** Reads bootc's status again (at start); a failure is logged and the OS is reported unknown (""). */
    async refresh(): Promise<void> {
      if (mode === "package") return;
      try {
        host = await bootcStatus(exec);
      } catch (e) {
        host = {};
        log.warn({ err: (e as Error).message }, "cannot read the OS status from bootc");
      }
    },
    /** status.os: the booted image and its digest as bootc reports them ("" on package-mode devices). */
    status: () => ({ image: host.booted?.image ?? "", imageDigest: host.booted?.imageDigest ?? "" }),
    /** Throws when this device cannot take `to` at all (an OS image on a package-mode device): before anything changes. */
    check(to: DeviceSpecJson): void {
      const image = to.os?.image;
      if (mode === "package" && image)
        throw new ApplyError(
          "os",
          image,
          "this is a package-mode device (no bootc): it cannot switch its OS to an image and keeps running its current OS",
        );
    },
    /**
     * Stages os.image of `to` when bootc does not already boot it, and records the pending update; undefined when
     * there is nothing to boot into.
     */
    async stage(version: number, to: DeviceSpecJson, changes: FileChanges): Promise<PendingOsUpdate | undefined> {
      const image = to.os?.image;
      if (!image || mode === "package") return undefined;
      const target = bootcTarget(image);
      const before = await read(image);
      if (before.booted?.image === target) return undefined;
      await bootcSwitch(exec, image);
      const after = await read(image);
      if (after.staged?.image !== target)
        throw new ApplyError("os", image, `bootc switch succeeded but bootc stages ${after.staged?.image || "nothing"}`);
      const pending: PendingOsUpdate = { version, image, target, previous: before.booted?.image ?? "", changes };
      writeFileSync(`${file}.tmp`, JSON.stringify(pending), { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
      return pending;
    },
    /** The update waiting for a reboot, if any (a damaged record counts as none). */
    pending(): PendingOsUpdate | undefined {
      try {
        return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as PendingOsUpdate) : undefined;
      } catch (e) {
        log.warn({ err: (e as Error).message, file }, "cannot read the pending OS update; ignoring it");
        return undefined;
      }
    },
    clear: () => rmSync(file, { force: true }),
    /** After the reboot: undefined when bootc booted the target, else why the update failed. */
    verify(p: PendingOsUpdate): ApplyError | undefined {
      const booted = host.booted?.image;
      if (booted === p.target) return undefined;
      return new ApplyError(
        "os",
        p.image,
        `booted image ${booted || "unknown"}, expected ${p.target}: the new image did not come up and the device booted its previous image again`,
      );
    },
    /**
     * Stages the deployment booted before `p` again (`bootc rollback`), when bootc still keeps it for rollback; says
     * why not otherwise.
     */
    async stageRollback(p: PendingOsUpdate): Promise<string | undefined> {
      if (host.rollback?.image !== p.previous) return `bootc keeps ${host.rollback?.image || "no image"} for rollback, not ${p.previous}`;
      const r = await exec.run("bootc", ["rollback"]);
      if (r.code !== 0) return `bootc rollback failed (${r.code}): ${(r.stderr || r.stdout).trim()}`;
      return undefined;
    },
    /** Asks the host to reboot (the executor's reboot: `systemctl reboot` on a device). */
    async reboot(): Promise<void> {
      const r = await (exec.reboot ? exec.reboot() : exec.run("systemctl", ["reboot"]));
      if (r.code !== 0) throw new ApplyError("os", "reboot", `the host refused to reboot (${r.code}): ${(r.stderr || r.stdout).trim()}`);
    },
  };
}

export type OsManager = ReturnType<typeof createOsManager>;
