// deploy/Containerfile builds here with no registry: deploy/assemble-rootfs.sh puts the host's node (and the libraries
// it links), this checkout and its node_modules in a root file system, `podman build` (FROM scratch) makes the image
// the quadlets run, and a container of it runs this project's code: flightctl-standalone renders the sample config.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { startPodmanEnv } from "./helpers/podman.js";

after(() => assertNoOpenHandles());

test("the service image builds FROM scratch and runs flightctl-standalone", { timeout: 900_000 }, async () => {
  const ctx = mkdtempSync(join(tmpdir(), "fc-image-"));
  const podman = await startPodmanEnv();
  try {
    execFileSync("sh", ["deploy/assemble-rootfs.sh", join(ctx, "rootfs")], { stdio: "pipe" });
    copyFileSync("deploy/Containerfile", join(ctx, "Containerfile"));
    await podman.ok(["build", "-f", join(ctx, "Containerfile"), "-t", "localhost/flightctl-ts:test", ctx], 600_000);
    // The image's own entry point (node) runs a bin from the checkout inside it, as the quadlets' Exec= does.
    const out = await podman.ok(
      [
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/flightctl-ts:test",
        "bin/flightctl-standalone.js",
        "render",
        "quadlets",
        "--config",
        "test/fixtures/standalone/service-config.yaml",
        "--output-dir",
        "/tmp/q",
      ],
      300_000,
    );
    assert.match(out, /^\/tmp\/q\/flightctl-api\.container$/m);
    assert.match(out, /^\/tmp\/q\/flightctl-userinfo-proxy\.container$/m);
    const user = await podman.ok([
      "run",
      "--rm",
      "--network",
      "none",
      "localhost/flightctl-ts:test",
      "-e",
      "console.log(process.getuid())",
    ]);
    assert.equal(user.trim(), "1001");
  } finally {
    await podman.close();
    rmSync(ctx, { recursive: true, force: true });
  }
});
