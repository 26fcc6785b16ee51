// flightctl's application status rules as pure functions (agent/apps/app-status.ts) and the reading of podman's
// answers (agent/apps/podman-state.ts): each status from its containers, the summary over apps, ps/inspect/events
// JSON into workloads.
import assert from "node:assert/strict";
import { test } from "node:test";
import { appStatus, summarize, type Workload, type WorkloadState } from "../agent/apps/app-status.js";
import { eventApp, parseRows, workloadsByApp, workloadState, type PsRow } from "../agent/apps/podman-state.js";

const w = (...states: WorkloadState[]): Workload[] => states.map((state, i) => ({ id: `c${i}`, name: `c${i}`, state, restarts: i }));
const st = (states: WorkloadState[], stopped = false) => {
  const s = appStatus(w(...states), stopped);
  return [s.status, s.ready, s.health];
};

test("an app's status from its containers, in flightctl's order", () => {
  assert.deepEqual(st([]), ["Unknown", "0/0", "Unknown"]);
  assert.deepEqual(st(["init", "init"]), ["Preparing", "0/2", "Unknown"]);
  assert.deepEqual(st(["running", "init"]), ["Starting", "1/2", "Degraded"]);
  assert.deepEqual(st(["running", "running"]), ["Running", "2/2", "Healthy"]);
  assert.deepEqual(st(["running", "exited"]), ["Running", "1/2", "Healthy"], "a finished one-shot beside a service");
  assert.deepEqual(st(["running", "died"]), ["Running", "1/2", "Degraded"]);
  assert.deepEqual(st(["running", "stopping", "running"]), ["Running", "2/3", "Degraded"]);
  assert.deepEqual(st(["exited", "exited"]), ["Completed", "0/2", "Healthy"]);
  assert.deepEqual(st(["died", "exited"]), ["Error", "0/2", "Error"]);
  assert.deepEqual(st(["stopping"]), ["Error", "0/1", "Error"]);
  // Asked to stop: Stopped once every container ended (whatever its exit code) or none is left.
  assert.deepEqual(st([], true), ["Stopped", "0/0", "Healthy"]);
  assert.deepEqual(st(["died", "exited"], true), ["Stopped", "0/2", "Healthy"]);
  assert.deepEqual(st(["running", "died"], true), ["Stopping", "1/2", "Degraded"]);
  assert.deepEqual(st(["init"], true), ["Stopping", "0/1", "Degraded"]);
  assert.equal(appStatus(w("running", "died", "running"), false).restarts, 0 + 1 + 2, "restarts add up over containers");
});

test("the applications summary: Error over Degraded over Healthy; apps not started count as Degraded", () => {
  assert.deepEqual(summarize([]), { status: "NoApplications" });
  assert.deepEqual(summarize([{ name: "a", health: "Healthy" }]), { status: "Healthy" });
  assert.deepEqual(
    summarize([
      { name: "b", health: "Unknown" },
      { name: "a", health: "Degraded" },
      { name: "c", health: "Healthy" },
    ]),
    { status: "Degraded", info: "a is in status Degraded, Not started: b" },
  );
  assert.deepEqual(
    summarize([
      { name: "a", health: "Degraded" },
      { name: "z", health: "Error" },
    ]),
    { status: "Error", info: "z is in status Error, a is in status Degraded" },
  );
  const many = summarize(Array.from({ length: 40 }, (_, i) => ({ name: `app-${i}`, health: "Error" as const })));
  assert.equal(many.info?.length, 256, "info is capped as flightctl's");
});

test("podman's answers: states, ps rows by project label with inspect's restarts, events by app", () => {
  assert.equal(workloadState("created", 0), "init");
  assert.equal(workloadState("running", 0), "running");
  assert.equal(workloadState("exited", 0), "exited");
  assert.equal(workloadState("exited", 137), "died");
  assert.equal(workloadState("stopped", 1), "died");
  assert.equal(workloadState("paused", 0), "stopping");
  assert.equal(workloadState("removing", 0), undefined);
  assert.deepEqual(parseRows(""), []);
  assert.deepEqual(parseRows("null\n"), []);
  assert.throws(() => parseRows("{not json"));
  const rows: PsRow[] = [
    { Id: "b".repeat(64), Names: ["web-b"], State: "exited", ExitCode: 137, Labels: { "com.docker.compose.project": "web-1" } },
    { Id: "a".repeat(64), Names: ["web-a"], State: "running", ExitCode: 0, Labels: { "com.docker.compose.project": "web-1" } },
    { Id: "c".repeat(64), Names: ["db"], State: "running", Labels: { "io.flightctl.quadlet.project": "db-2" } },
    { Id: "d".repeat(64), Names: ["stranger"], State: "running", Labels: null },
  ];
  const by = workloadsByApp(rows, new Map([["b".repeat(64), 4]]));
  assert.deepEqual([...by.keys()].sort(), ["db-2", "web-1"]);
  assert.deepEqual(by.get("web-1"), [
    { id: "a".repeat(64), name: "web-a", state: "running", restarts: 0 },
    { id: "b".repeat(64), name: "web-b", state: "died", restarts: 4, exitCode: 137 },
  ]);
  const ev = (attrs: object, type = "container") => JSON.stringify({ Type: type, Status: "died", Name: "x", Attributes: attrs });
  assert.equal(eventApp(ev({ "com.docker.compose.project": "web-1" })), "web-1");
  assert.equal(eventApp(ev({ "io.flightctl.quadlet.project": "db-2" })), "db-2");
  assert.equal(eventApp(ev({ other: "x" })), undefined);
  assert.equal(eventApp(ev({ "com.docker.compose.project": "web-1" }, "image")), undefined);
  assert.equal(eventApp("not json"), undefined);
});
