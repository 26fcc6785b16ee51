// deploy/Containerfile builds here with no registry: deploy/assemble-rootfs.sh puts the host's node (and the libraries
// it links), this checkout and its node_modules in a root file system, `podman build` (FROM scratch) makes the image
// the quadlets run, and containers of it run this project's code: flightctl-standalone renders the sample config, and
// flightctl-api (as its quadlet runs it: the bin as Exec, a named volume as its data dir) serves /readyz on a test
// database.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { startPodmanEnv } from "./helpers/podman.js";
import { createTestDatabase } from "./helpers/db.js";
import { freePort } from "./helpers/ports.js";

after(() => assertNoOpenHandles());

test("the service image builds FROM scratch, runs flightctl-standalone, and runs flightctl-api until it is ready", {
  timeout: 900_000,
}, async () => {
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

    // flightctl-api from the image: host network (the test database is on loopback), the PKI in a named volume given
    // to the image's user (U), as the quadlet mounts it.
    const db = await createTestDatabase();
    const [port, agentPort] = [await freePort(), await freePort()];
    try {
      await podman.ok(["volume", "create", "flightctl-data"]);
      await podman.ok([
        "run",
        "-d",
        "--name",
        "flightctl-api",
        "--network",
        "host",
        "-v",
        "flightctl-data:/var/lib/flightctl:U",
        "-e",
        `DATABASE_URL=${db.url}`,
        "-e",
        `FLIGHTCTL_API_ADDRESS=127.0.0.1:${port}`,
        "-e",
        `FLIGHTCTL_AGENT_ADDRESS=127.0.0.1:${agentPort}`,
        "-e",
        "FLIGHTCTL_WEB_DIR=",
        "localhost/flightctl-ts:test",
        "/opt/flightctl/bin/flightctl-api.js",
      ]);
      let ready = "";
      for (let i = 0; i < 240 && ready !== "ok"; i++) {
        const r = await podman.run([
          "exec",
          "-e",
          "NODE_TLS_REJECT_UNAUTHORIZED=0",
          "flightctl-api",
          "/usr/bin/node",
          "-e",
          `fetch("https://127.0.0.1:${port}/readyz").then(r => r.text()).then(t => console.log(t.trim()), () => console.log("down"))`,
        ]);
        ready = r.stdout.trim();
        if (ready !== "ok") await new Promise((r) => setTimeout(r, 500));
      }
      const logs = await podman.run(["logs", "flightctl-api"]);
      assert.equal(ready, "ok", logs.stdout + logs.stderr);
      // It wrote its PKI into the volume as the service user.
      const ls = await podman.ok([
        "exec",
        "flightctl-api",
        "/usr/bin/node",
        "-e",
        "console.log(require('fs').readdirSync('/var/lib/flightctl/certs').includes('ca.crt'))",
      ]);
      assert.equal(ls.trim(), "true");
    } finally {
      await podman.run(["rm", "-f", "-t", "5", "flightctl-api"]);
      await db.drop();
    }
  } finally {
    await podman.close();
    rmSync(ctx, { recursive: true, force: true });
  }
});
