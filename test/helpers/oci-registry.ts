// A real OCI registry for tests: Debian's docker-registry (the CNCF distribution registry) on a free loopback port,
// plain HTTP, its data in a temp dir; optionally with basic auth (a bcrypt htpasswd file from apache2-utils' htpasswd). close() stops it and removes
// the data.
//
//   const reg = await startOciRegistry();
//   const podman = await startPodmanEnv({ insecureRegistries: [reg.host] });
//   await podman.pushImage("localhost/bb:1", `${reg.host}/apps/bb:1`);
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";

export const REGISTRY_BIN = "/usr/bin/docker-registry";

export interface OciRegistry {
  /** host:port, the registry part of an image reference. */
  host: string;
  /** http://host:port */
  url: string;
  /** The basic-auth user when started with one. */
  auth?: { username: string; password: string };
  close(): Promise<void>;
}

export async function startOciRegistry(opts: { auth?: { username: string; password: string } } = {}): Promise<OciRegistry> {
  const dir = mkdtempSync(join(tmpdir(), "oci-registry-"));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const authConf = opts.auth ? `auth:\n  htpasswd:\n    realm: test\n    path: ${join(dir, "htpasswd")}\n` : "";
  if (opts.auth) {
    const line = execFileSync("htpasswd", ["-Bbn", opts.auth.username, opts.auth.password], { encoding: "utf8" });
    writeFileSync(join(dir, "htpasswd"), `${line.trim()}\n`);
  }
  writeFileSync(
    join(dir, "config.yml"),
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, "data")}\n  delete:\n    enabled: true\nhttp:\n  addr: ${host}\n${authConf}`,
  );
  const child = spawn(REGISTRY_BIN, ["serve", join(dir, "config.yml")], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-2000)));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  // Ready when /v2/ answers (200, or 401 with auth).
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ok = await fetch(`http://${host}/v2/`).then(
      (r) => r.status === 200 || r.status === 401,
      () => false,
    );
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`docker-registry did not start on ${host}: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host,
    url: `http://${host}`,
    auth: opts.auth,
    async close() {
      child.kill("SIGTERM");
      // The grace timer is cleared once the registry exits, so no timer outlives close().
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (grace = setTimeout(r, 3000)))]);
      clearTimeout(grace);
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
