// Application status read from real podman (agent/apps/monitor.ts over the real executor): containers started here
// with an app's project label are found and followed through `podman events`; a killed container is seen within
// seconds (Running, Degraded, 1/2), a restart brings it back; a stopped app with nothing running is Stopped; an app
// with no container yet is Unknown; restarts are podman's RestartCount; a dying events process is started again.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import pino from "pino";
import { appId } from "../agent/apply.js";
import { createAppMonitor, type AppMonitor, type WatchedApp } from "../agent/apps/monitor.js";
import { COMPOSE_PROJECT_LABEL, QUADLET_PROJECT_LABEL } from "../agent/apps/labels.js";
import { realExecutor, type Executor } from "../agent/host.js";
import { startPodmanEnv, type PodmanEnv } from "./helpers/podman.js";

const IMAGE = "localhost/status-test:1";
const log = pino({ level: "silent" });
let p: PodmanEnv;
const monitors: AppMonitor[] = [];

before(async () => {
  p = await startPodmanEnv();
  // realExecutor inherits this process's environment: podman here uses the test's own storage and config.
  Object.assign(process.env, p.env);
  await p.buildImage(IMAGE);
});
after(async () => {
  for (const m of monitors) m.close();
  await p.close();
});

const app = (name: string, appType = "compose", stopped = false): WatchedApp => ({ name, appType, id: appId(name), stopped });

/** A monitor over the real executor with short periods; `changes` counts its onChange calls. */
function monitor(exec: Executor = realExecutor) {
  const state = { changes: 0 };
  const m = createAppMonitor({ exec, log, onChange: () => state.changes++, resyncIntervalMs: 60_000, debounceMs: 200, backoffMs: 100 });
  monitors.push(m);
  return Object.assign(state, { m });
}

async function waitFor<T>(what: string, fn: () => T | undefined | false, ms = 8000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const run = (name: string, label: string, id: string, extra: string[] = [], cmd: string[] = []) =>
  p.ok(["run", "-d", "--name", name, "--label", `${label}=${id}`, ...extra, IMAGE, ...cmd]);

test("a compose app of two containers: 2/2 Running; a kill is seen within seconds (1/2, Degraded); a start brings it back", async () => {
  const web = app("web");
  const state = monitor();
  const m = state.m;
  m.setApps([web]);
  await m.resync();
  assert.deepEqual(m.status().applications[0], {
    name: "web",
    appType: "compose",
    status: "Unknown",
    ready: "0/0",
    restarts: 0,
    embedded: false,
  });
  assert.equal(m.status().applicationsSummary.status, "Degraded", "an app not started yet is not healthy (flightctl: Not started)");

  await run("web-a", COMPOSE_PROJECT_LABEL, web.id);
  await run("web-b", COMPOSE_PROJECT_LABEL, web.id);
  // An unlabelled container and another project's are not this app's.
  await p.ok(["run", "-d", "--name", "stranger", IMAGE]);
  await run("other-1", COMPOSE_PROJECT_LABEL, appId("other"));
  // No resync is asked for: the events stream is what notices them.
  await waitFor("2/2 Running", () => m.status().applications[0].ready === "2/2");
  assert.equal(m.status().applications[0].status, "Running");
  assert.deepEqual(m.status().applicationsSummary, { status: "Healthy" });
  assert.deepEqual(
    m.workloads("web").map((w) => [w.name, w.state]),
    [
      ["web-a", "running"],
      ["web-b", "running"],
    ],
  );
  const changesBefore = state.changes;

  const t0 = Date.now();
  await p.ok(["kill", "web-b"]);
  await waitFor("1/2 after the kill", () => m.status().applications[0].ready === "1/2");
  assert.ok(Date.now() - t0 < 5000, `seen after ${Date.now() - t0} ms`);
  const killed = m.status();
  assert.equal(killed.applications[0].status, "Running", "flightctl: some containers running is Running");
  assert.deepEqual(killed.applicationsSummary, { status: "Degraded", info: "web is in status Degraded" });
  const b = m.workloads("web").find((w) => w.name === "web-b");
  assert.equal(b?.state, "died");
  assert.equal(b?.exitCode, 137, "SIGKILL");
  await waitFor("onChange after the kill", () => state.changes > changesBefore);

  await p.ok(["start", "web-b"]);
  await waitFor("2/2 again", () => m.status().applications[0].ready === "2/2");
  assert.deepEqual(m.status().applicationsSummary, { status: "Healthy" });
  // flightctl counts podman's RestartCount (restarts by the restart policy); a start by hand is not one.
  assert.equal(m.status().applications[0].restarts, 0);

  // Both dead: Error.
  await p.ok(["kill", "web-a", "web-b"]);
  await waitFor("Error", () => m.status().applications[0].status === "Error");
  assert.equal(m.status().applications[0].ready, "0/2");
  assert.deepEqual(m.status().applicationsSummary, { status: "Error", info: "web is in status Error" });
  await p.ok(["rm", "-f", "web-a", "web-b", "stranger", "other-1"]);
  await waitFor("containers removed: Unknown", () => m.status().applications[0].status === "Unknown");
});

test("restarts are the restart policy's; a container that keeps failing is counted each time", async () => {
  const flaky = app("flaky", "container");
  const { m } = monitor();
  m.setApps([flaky]);
  await run("flaky-1", QUADLET_PROJECT_LABEL, flaky.id, ["--restart", "on-failure:2"], ["sh", "-c", "sleep 1; exit 3"]);
  const s = await waitFor(
    "two restarts, then given up",
    () => {
      const a = m.status().applications[0];
      return a.restarts === 2 && a.status === "Error" && a;
    },
    20_000,
  );
  assert.equal(s.ready, "0/1");
  assert.equal(m.workloads("flaky")[0].exitCode, 3);
  await p.ok(["rm", "-f", "flaky-1"]);
});

test("desiredState stopped: Stopped once nothing runs (Stopping while it does); a one-shot that exited 0 is Completed", async () => {
  const paused = app("paused", "quadlet", true);
  const job = app("job", "quadlet");
  const { m } = monitor();
  m.setApps([paused, job]);
  await m.resync();
  assert.equal(m.status().applications[0].status, "Stopped", "no container at all");
  await run("paused-1", QUADLET_PROJECT_LABEL, paused.id);
  await waitFor("Stopping while its container runs", () => m.status().applications[0].status === "Stopping");
  assert.equal(m.status().applicationsSummary.status, "Degraded");
  await p.ok(["stop", "-t", "0", "paused-1"]);
  await waitFor("Stopped", () => m.status().applications[0].status === "Stopped");

  await run("job-1", QUADLET_PROJECT_LABEL, job.id, [], ["true"]);
  await waitFor("Completed", () => m.status().applications[1].status === "Completed");
  assert.equal(m.status().applications[1].ready, "0/1");
  assert.deepEqual(m.status().applicationsSummary, { status: "Healthy" });
  // A new app list: the stopped one is asked to run again, and is in Error while its container is down.
  m.setApps([{ ...paused, stopped: false }, job]);
  await waitFor("Error", () => m.status().applications[0].status === "Error");
  await p.ok(["rm", "-f", "paused-1", "job-1"]);
});

test("a podman events process that dies is started again (with backoff) and the monitor resyncs", async () => {
  const web = app("restarted");
  let started = 0;
  const kills: (() => void)[] = [];
  // The real executor, except that the test can end the events process as if it crashed.
  const exec: Executor = {
    ...realExecutor,
    stream(cmd, args, cb, o) {
      started++;
      const h = realExecutor.stream(cmd, args, cb, o);
      kills.push(() => {
        h.stop();
        cb.onExit(1, "simulated crash");
      });
      return h;
    },
  };
  const { m } = monitor(exec);
  m.setApps([web]);
  await waitFor("the events process", () => started === 1);
  kills[0]();
  // While no events process runs, a container starts: the resync after the restart finds it.
  await run("restarted-1", COMPOSE_PROJECT_LABEL, web.id);
  await waitFor("a second events process", () => started === 2);
  await waitFor("1/1 found", () => m.status().applications[0].ready === "1/1");
  // The new stream works: a kill is seen without any resync asked for.
  await p.ok(["kill", "restarted-1"]);
  await waitFor("Error", () => m.status().applications[0].status === "Error");
  await p.ok(["rm", "-f", "restarted-1"]);
});
