// The agent's memory of what it runs: current.json (applied), desired.json (being applied) and rollback.json,
// each a rendered Device in flightctl JSON, written atomically so a crash leaves either the old or the new file.
// Writes are synchronous on purpose: a rename over an existing file makes ext4 flush it first, which blocks, but
// the asynchronous form queues every agent's file operations on libuv's four threads; with 10,000 simulated agents
// in one process updates then took seconds each and fleet-wide changes a third longer. The files are kept in memory:
// status reports read the current spec every time. Where the documents are kept is a SpecStore: these files on a
// device, memory in the simulator (memorySpecStore: no disk write per simulated update).
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

type Doc = "current" | "desired" | "rollback";

/** Where the three documents and the failed versions are kept. */
export interface SpecStore {
  /** Whether all three documents are there (flightctl: if any is missing, all start again from version 0). */
  complete(): boolean;
  read(n: Doc): DeviceJson;
  write(n: Doc, doc: DeviceJson): void;
  failed(): number[];
  setFailed(versions: number[]): void;
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

/** The files in the data dir (a device's agent). */
export function fileSpecStore(dataDir: string): SpecStore {
  mkdirSync(dataDir, { recursive: true });
  const path = (n: string) => join(dataDir, `${n}.json`);
  // What the files hold (treat as read-only).
  const docs = new Map<string, DeviceJson>();
  const failedFile = join(dataDir, "failed-versions.json");
  return {
    complete: () => ["current", "desired", "rollback"].every((n) => existsSync(path(n))),
    read(n) {
      let doc = docs.get(n);
      if (!doc) docs.set(n, (doc = JSON.parse(readFileSync(path(n), "utf8")) as DeviceJson));
      return doc;
    },
    write(n, doc) {
      const tmp = `${path(n)}.tmp`;
      writeFileSync(tmp, JSON.stringify(doc), { mode: 0o600 });
      renameSync(tmp, path(n));
      docs.set(n, doc);
    },
    failed: () => (existsSync(failedFile) ? (JSON.parse(readFileSync(failedFile, "utf8")) as number[]) : []),
    setFailed: (v) => writeFileSync(failedFile, JSON.stringify(v)),
  };
}

/** Documents kept in memory (a simulated device: they last as long as the simulator process, across its reboots). */
export function memorySpecStore(): SpecStore {
  const docs = new Map<Doc, DeviceJson>();
  let failed: number[] = [];
  return {
    complete: () => docs.size === 3,
    read: (n) => docs.get(n)!,
    write: (n, doc) => void docs.set(n, doc),
    failed: () => failed,
    setFailed: (v) => void (failed = v),
  };
}

export function openSpecFiles(dataDir: string): SpecFiles {
  return openSpecs(fileSpecStore(dataDir));
}

export function openSpecs(store: SpecStore): SpecFiles {
  const { read, write } = store;
  if (!store.complete()) for (const n of ["current", "desired", "rollback"] as const) write(n, empty());
  const failed = new Set<number>(store.failed());
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
      store.setFailed([...failed]);
      write("desired", read("current"));
    },
    revert: () => write("desired", read("current")),
    failed,
  };
}
