// Real podman for tests, kept off the machine's own configuration: containers.conf (runtime runc and no default
// ulimits, the two settings these machines need: ../shared/reference/podman-here.md; networks and libpod's runtime
// directory — exit files, the "alive" marker that `podman system reset` deletes — in the temp dir, so concurrent
// test runs do not pull each other's state away; container locks as files there too, not podman's one shared memory
// segment for the whole machine, which storages in parallel allocate from independently and so take each other's),
// storage.conf and registries.conf (loopback registries as insecure) all in a temp dir, given to podman, podman-compose
// and agent processes through `env`. Test images are busybox-static root file systems imported with `podman import`
// (no public registry is reachable).
//
//   const p = await startPodmanEnv({ insecureRegistries: [reg.host] });
//   await p.buildImage("localhost/bb:1");                       // busybox, CMD sleep
//   await p.ok(["run", "-d", "--name", "x", "localhost/bb:1"]);  // any podman command, with the env
//   spawn("node", ["agent/main.ts"], { env: { ...process.env, ...p.env } });
//   await p.close();                                            // removes containers, images, storage
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** busybox applets linked in test images. */
const APPLETS = ["sh", "echo", "sleep", "cat", "ls", "httpd", "true", "false", "kill", "wget", "nc", "env", "test"];
export const BUSYBOX = "/bin/busybox";

export interface PodmanResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface PodmanEnv {
  /** The temp dir holding configuration and storage. */
  dir: string;
  /** CONTAINERS_CONF, CONTAINERS_STORAGE_CONF, CONTAINERS_REGISTRIES_CONF: add to any process that runs podman. */
  env: Record<string, string>;
  /** Runs `podman args` with the env. */
  run(args: string[], timeoutMs?: number): Promise<PodmanResult>;
  /** As run, failing with podman's stderr unless it exits 0; answers stdout. */
  ok(args: string[], timeoutMs?: number): Promise<string>;
  /** Runs another program (podman-compose, skopeo) with the env. */
  exec(cmd: string, args: string[], timeoutMs?: number): Promise<PodmanResult>;
  /**
   * Builds image `ref`: busybox with its applets in /bin, plus `files` (path → content) at the image root, with the
   * given CMD and LABELs. Answers the image id.
   */
  buildImage(ref: string, opts?: { files?: Record<string, string>; cmd?: string[]; labels?: Record<string, string> }): Promise<string>;
  /** Pushes local image `ref` to `target` (host:port/name:tag of an insecure loopback registry). */
  pushImage(ref: string, target: string, creds?: { username: string; password: string }): Promise<void>;
  /** Removes every container, pod, image and network, then the temp dir. */
  close(): Promise<void>;
}

function execIn(env: Record<string, string>) {
  return (cmd: string, args: string[], timeoutMs = 120_000): Promise<PodmanResult> =>
    new Promise((resolve) => {
      execFile(cmd, args, { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 124) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err && code === 124 ? err.message : "") });
      });
    });
}

export async function startPodmanEnv(opts: { insecureRegistries?: string[] } = {}): Promise<PodmanEnv> {
  const dir = mkdtempSync(join(tmpdir(), "podman-"));
  mkdirSync(join(dir, "networks"));
  writeFileSync(
    join(dir, "containers.conf"),
    // tmp_dir: podman's default (/run/libpod) is shared by every test's podman, and `system reset` in one test's
    // close() deletes it under the others ("creating runtime status file: open /run/libpod/alive"). lock_type file:
    // with the default shared memory locks, parallel storages hand out the same lock numbers ("acquiring lock 9 for
    // container …: file exists", containers left Created).
    `[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\ntmp_dir = "${join(dir, "tmp")}"\nlock_type = "file"\n\n[network]\nnetwork_config_dir = "${join(dir, "networks")}"\n`,
  );
  writeFileSync(
    join(dir, "storage.conf"),
    `[storage]\ndriver = "overlay"\ngraphroot = "${join(dir, "storage")}"\nrunroot = "${join(dir, "run")}"\n`,
  );
  writeFileSync(
    join(dir, "registries.conf"),
    `unqualified-search-registries = []\n${(opts.insecureRegistries ?? [])
      .map((r) => `\n[[registry]]\nlocation = "${r}"\ninsecure = true\n`)
      .join("")}`,
  );
  const env = {
    CONTAINERS_CONF: join(dir, "containers.conf"),
    CONTAINERS_STORAGE_CONF: join(dir, "storage.conf"),
    CONTAINERS_REGISTRIES_CONF: join(dir, "registries.conf"),
  };
  const exec = execIn(env);
  const run = (args: string[], timeoutMs?: number) => exec("podman", args, timeoutMs);
  const ok = async (args: string[], timeoutMs?: number) => {
    const r = await run(args, timeoutMs);
    if (r.code !== 0) throw new Error(`podman ${args.join(" ")} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
  };
  let images = 0;
  return {
    dir,
    env,
    run,
    ok,
    exec,
    async buildImage(ref, o = {}) {
      const root = join(dir, `image-${images++}`);
      mkdirSync(join(root, "bin"), { recursive: true });
      copyFileSync(BUSYBOX, join(root, "bin", "busybox"));
      for (const a of APPLETS) symlinkSync("busybox", join(root, "bin", a));
      for (const [path, content] of Object.entries(o.files ?? {})) {
        const target = join(root, path);
        mkdirSync(dirname(target), { recursive: true });
        writeFileSync(target, content);
      }
      const tar = `${root}.tar`;
      const t = await exec("tar", ["-C", root, "-cf", tar, "."]);
      if (t.code !== 0) throw new Error(`tar failed: ${t.stderr}`);
      const changes = [
        `CMD ${JSON.stringify(o.cmd ?? ["/bin/sleep", "100000"])}`,
        ...Object.entries(o.labels ?? {}).map(([k, v]) => `LABEL ${k}=${JSON.stringify(v)}`),
      ].flatMap((c) => ["--change", c]);
      const id = (await ok(["import", "-q", ...changes, tar, ref])).trim();
      rmSync(root, { recursive: true, force: true });
      rmSync(tar, { force: true });
      return id;
    },
    async pushImage(ref, target, creds) {
      await ok(["tag", ref, target]);
      await ok(["push", ...(creds ? ["--creds", `${creds.username}:${creds.password}`] : []), target]);
    },
    async close() {
      await run(["rm", "-af", "-t", "0"]);
      await run(["pod", "rm", "-af"]);
      // Unmounts and deletes the storage (overlay mounts would keep rmSync from removing it).
      await run(["system", "reset", "-f"]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
