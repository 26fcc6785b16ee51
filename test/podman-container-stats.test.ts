// The applications' container CPU and memory telemetry reads, from real podman: containers are matched to apps by the
// project labels (quadlet/container and compose), others are left out, and the numbers are podman's raw ones.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { appContainerStats } from "../agent/apps/container-stats.js";
import { appId } from "../agent/apps/app-id.js";
import { COMPOSE_PROJECT_LABEL, QUADLET_PROJECT_LABEL } from "../agent/apps/labels.js";
import { realExecutor } from "../agent/host.js";
import { startPodmanEnv, type PodmanEnv } from "./helpers/podman.js";

const IMAGE = "localhost/stats-test:1";
let p: PodmanEnv;

before(async () => {
  p = await startPodmanEnv();
  Object.assign(process.env, p.env);
  // Some CPU work first, so its CPU time is clearly above zero.
  await p.buildImage(IMAGE, { cmd: ["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 600"] });
});

after(async () => {
  await p?.close();
  await assertNoOpenHandles();
});

test("each app's running containers with their CPU time and memory, found by project label", async () => {
  const run = (name: string, label?: string) =>
    p.ok(["run", "-d", "--name", name, ...(label ? ["--label", label] : []), IMAGE]).then((id) => id.trim());
  await run("web-1", `${QUADLET_PROJECT_LABEL}=${appId("web")}`);
  await run("web-2", `${QUADLET_PROJECT_LABEL}=${appId("web")}`);
  await run("db-db-1", `${COMPOSE_PROJECT_LABEL}=${appId("db")}`);
  // Labelled for another app, or with the wrong type's label, or none: not reported.
  await run("other-1", `${QUADLET_PROJECT_LABEL}=${appId("other")}`);
  await run("wrong-type", `${COMPOSE_PROJECT_LABEL}=${appId("web")}`);
  await run("plain");

  const apps = [
    { name: "web", appType: "container", id: appId("web") },
    { name: "db", appType: "compose", id: appId("db") },
  ];
  const stats = await appContainerStats(realExecutor, apps);
  assert.deepEqual(stats.map((s) => `${s.app}/${s.container}`).sort(), ["db/db-db-1", "web/web-1", "web/web-2"]);
  for (const s of stats) {
    assert.ok(s.cpuSeconds > 0, `${s.container} cpu ${s.cpuSeconds}`);
    assert.ok(s.memoryBytes > 0 && s.memoryBytes < s.memoryLimitBytes, `${s.container} memory ${s.memoryBytes}/${s.memoryLimitBytes}`);
  }

  // A stopped container is no longer reported; no app of the spec means podman is not asked at all.
  await p.ok(["stop", "-t", "0", "web-2"]);
  assert.deepEqual((await appContainerStats(realExecutor, apps)).map((s) => s.container).sort(), ["db-db-1", "web-1"]);
  assert.deepEqual(await appContainerStats(realExecutor, []), []);
});
