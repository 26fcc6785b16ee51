// The agent's memory of what it runs: current.json (applied), desired.json (being applied) and rollback.json,
// each a rendered Device in flightctl JSON, written atomically so a crash leaves either the old or the new file.
// Writes are asynchronous: replacing a file by rename makes the file system flush it first (ext4), which would block
// the event loop (in the simulator, thousands of agents share one: 15 % of its time went into renames).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { JsonObject } from "@bufbuild/protobuf";

export const ANNOTATION_RENDERED_VERSION = "device-controller/renderedVersion";

export interface SpecFiles {
  current(): JsonObject;
  desired(): JsonObject;
  setDesired(device: JsonObject): Promise<void>;
  /** desired becomes current (a successful update). */
  upgrade(): Promise<void>;
  /** current becomes desired again (a failed update); the failed version is remembered. */
  rollback(): Promise<void>;
  /** current becomes desired again without blaming the version (an update to be tried again later). */
  revert(): Promise<void>;
  failed: Set<number>;
}

/** The rendered version a Device document carries (0: none). */
export function versionOf(device: JsonObject): number {
  const annotations = ((device.metadata ?? {}) as JsonObject).annotations as Record<string, string> | undefined;
  return Number(annotations?.[ANNOTATION_RENDERED_VERSION] ?? 0);
}

const empty = (): JsonObject => ({ apiVersion: "flightctl.io/v1beta1", kind: "Device", metadata: { annotations: { [ANNOTATION_RENDERED_VERSION]: "0" } }, spec: {} });

export function openSpecFiles(dataDir: string): SpecFiles {
  mkdirSync(dataDir, { recursive: true });
  const path = (n: string) => join(dataDir, `${n}.json`);
  // What the files hold, kept in memory: status reports read the current spec every time (treat as read-only).
  const docs = new Map<string, JsonObject>();
  const read = (n: string): JsonObject => {
    let doc = docs.get(n);
    if (!doc) docs.set(n, (doc = JSON.parse(readFileSync(path(n), "utf8")) as JsonObject));
    return doc;
  };
  const tmp = (n: string) => `${path(n)}.tmp`;
  const write = async (n: string, doc: JsonObject) => {
    await writeFile(tmp(n), JSON.stringify(doc), { mode: 0o600 });
    await rename(tmp(n), path(n));
    docs.set(n, doc);
  };
  // flightctl: if any file is missing, all three start again from version 0.
  if (!["current", "desired", "rollback"].every((n) => existsSync(path(n)))) {
    for (const n of ["current", "desired", "rollback"]) {
      writeFileSync(tmp(n), JSON.stringify(empty()), { mode: 0o600 });
      renameSync(tmp(n), path(n));
    }
  }
  const failedFile = join(dataDir, "failed-versions.json");
  const failed = new Set<number>(existsSync(failedFile) ? (JSON.parse(readFileSync(failedFile, "utf8")) as number[]) : []);
  return {
    current: () => read("current"),
    desired: () => read("desired"),
    setDesired: (d) => write("desired", d),
    async upgrade() {
      await write("rollback", read("current"));
      await write("current", read("desired"));
    },
    async rollback() {
      failed.add(versionOf(read("desired")));
      await writeFile(failedFile, JSON.stringify([...failed]));
      await write("desired", read("current"));
    },
    revert: () => write("desired", read("current")),
    failed,
  };
}
