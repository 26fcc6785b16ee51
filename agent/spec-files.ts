// The agent's memory of what it runs: current.json (applied), desired.json (being applied) and rollback.json,
// each a rendered Device in flightctl JSON, written atomically so a crash leaves either the old or the new file.
// Writes are synchronous on purpose: a rename over an existing file makes ext4 flush it first, which blocks, but
// the asynchronous form queues every agent's file operations on libuv's four threads; with 10,000 simulated agents
// in one process updates then took seconds each and fleet-wide changes a third longer. The files are kept in memory:
// status reports read the current spec every time.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { DeviceJson } from "../gen/flightctl/v1beta1/device_pb.js";

export const ANNOTATION_RENDERED_VERSION = "device-controller/renderedVersion";

export interface SpecFiles {
  current(): DeviceJson;
  desired(): DeviceJson;
  setDesired(device: DeviceJson): void;
  /** desired becomes current (a successful update). */
  upgrade(): void;
  /** current becomes desired again (a failed update); the failed version is remembered. */
  rollback(): void;
  /** current becomes desired again without blaming the version (an update to be tried again later). */
  revert(): void;
  failed: Set<number>;
}

/** The rendered version a Device document carries (0: none). */
export function versionOf(device: DeviceJson): number {
  return Number(device.metadata?.annotations?.[ANNOTATION_RENDERED_VERSION] ?? 0);
}

const empty = (): DeviceJson => ({
  apiVersion: "flightctl.io/v1beta1",
  kind: "Device",
  metadata: { annotations: { [ANNOTATION_RENDERED_VERSION]: "0" } },
  spec: {},
});

export function openSpecFiles(dataDir: string): SpecFiles {
  mkdirSync(dataDir, { recursive: true });
  const path = (n: string) => join(dataDir, `${n}.json`);
  // What the files hold (treat as read-only).
  const docs = new Map<string, DeviceJson>();
  const read = (n: string): DeviceJson => {
    let doc = docs.get(n);
    if (!doc) docs.set(n, (doc = JSON.parse(readFileSync(path(n), "utf8")) as DeviceJson));
    return doc;
  };
  const tmp = (n: string) => `${path(n)}.tmp`;
  const write = (n: string, doc: DeviceJson) => {
    writeFileSync(tmp(n), JSON.stringify(doc), { mode: 0o600 });
    renameSync(tmp(n), path(n));
    docs.set(n, doc);
  };
  // flightctl: if any file is missing, all three start again from version 0.
  if (!["current", "desired", "rollback"].every((n) => existsSync(path(n))))
    for (const n of ["current", "desired", "rollback"]) write(n, empty());
  const failedFile = join(dataDir, "failed-versions.json");
  const failed = new Set<number>(existsSync(failedFile) ? (JSON.parse(readFileSync(failedFile, "utf8")) as number[]) : []);
  return {
    current: () => read("current"),
    desired: () => read("desired"),
    setDesired: (d) => write("desired", d),
    upgrade() {
      write("rollback", read("current"));
      write("current", read("desired"));
    },
    rollback() {
      failed.add(versionOf(read("desired")));
      writeFileSync(failedFile, JSON.stringify([...failed]));
      write("desired", read("current"));
    },
    revert: () => write("desired", read("current")),
    failed,
  };
}
