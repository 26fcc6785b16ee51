// A device's host file system kept in memory, for the simulator: thousands of simulated devices in one process
// writing their config files to disk (temp file, chmod, rename: an ext4 flush each) made file I/O a third of the
// simulator's CPU per update. Same contract as rootedFs (agent/host.ts): paths are device paths; writes replace
// whole files with their mode; a file's parents exist once it does. `real` names where a path would be under `root`
// (what commands are told, e.g. compose's -f); nothing is written there.
import { normalize, posix } from "node:path";
import { join } from "node:path";
import type { HostFs } from "./host.js";

interface Entry {
  data: Buffer;
  mode: number;
}

export interface MemoryFs extends HostFs {
  /** The device path of `real(p)` (what a command given a real path writes to), undefined outside the root. */
  devicePath(realPath: string): string | undefined;
}

export function memoryFs(root: string): MemoryFs {
  const files = new Map<string, Entry>();
  const dirs = new Set<string>(["/"]);
  const clean = (p: string) => {
    const n = posix.normalize(`/${p}`);
    return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
  };
  const mkdirs = (dir: string) => {
    for (let d = dir; !dirs.has(d); d = posix.dirname(d)) dirs.add(d);
  };
  const base = join(root, "/");
  return {
    real: (p) => join(root, normalize(p)),
    devicePath(realPath) {
      const r = normalize(realPath);
      if (r === root || r === base.slice(0, -1)) return "/";
      return r.startsWith(base) ? clean(r.slice(base.length)) : undefined;
    },
    read: (p) => files.get(clean(p))?.data,
    write(p, data, opts = {}) {
      const path = clean(p);
      if (dirs.has(path)) throw Object.assign(new Error(`EISDIR: illegal operation on a directory, open '${p}'`), { code: "EISDIR" });
      mkdirs(posix.dirname(path));
      // Owners are not kept: the simulator owns nothing (rootedFs would chown on a real host).
      files.set(path, { data: Buffer.isBuffer(data) ? data : Buffer.from(data), mode: opts.mode ?? 0o644 });
    },
    remove(p) {
      const path = clean(p);
      files.delete(path);
      if (path === "/" || !dirs.has(path)) return;
      const under = `${path}/`;
      for (const f of files.keys()) if (f.startsWith(under)) files.delete(f);
      for (const d of dirs) if (d === path || d.startsWith(under)) dirs.delete(d);
    },
    mkdir: (p) => mkdirs(clean(p)),
    exists: (p) => files.has(clean(p)) || dirs.has(clean(p)),
    mode: (p) => files.get(clean(p))?.mode ?? (dirs.has(clean(p)) ? 0o755 : undefined),
    list(p) {
      const path = clean(p);
      if (!dirs.has(path)) return [];
      const prefix = path === "/" ? "/" : `${path}/`;
      const names = new Set<string>();
      for (const k of [...files.keys(), ...dirs]) {
        if (k === path || !k.startsWith(prefix)) continue;
        names.add(k.slice(prefix.length).split("/")[0]);
      }
      return [...names].sort();
    },
  };
}
