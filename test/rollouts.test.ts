// Policy-driven rollouts end to end: 100 simulated agents, the real API and worker (1 s rollout ticks). A batched
// rollout under a disruption budget takes exactly the batches PlanFleetRollout announced, never has more devices of a
// rack updating than the budget allows (sampled every 50 ms), and completes; a template that breaks devices of the
// first batch suspends the rollout below its threshold and, with onFailure: revert, puts the updated ones back on the
// previous template version.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import pino from "pino";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { agentConfigYaml, userClient, waitFor } from "./helpers/agents.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { FleetService } from "../gen/flightctl/v1beta1/fleet_service_pb.js";
import { FleetSchema } from "../gen/flightctl/v1beta1/fleet_pb.js";
import { startSimulator } from "../agent/simulator.js";
import { parseAgentConfig } from "../agent/config.js";

const COUNT = 100;
const MAX_UNAVAILABLE = 4;
let t: TestApi;
let admin: string;
let dir: string;
let sim: Awaited<ReturnType<typeof startSimulator>>;
const auth = () => ({ headers: { authorization: `Bearer ${admin}` } });

before(async () => {
  t = await startTestApi({ worker: true, heartbeatMs: 1000, rolloutTickSeconds: 1 });
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  dir = mkdtempSync(join(tmpdir(), "fc-rollout-"));
  const installer = await t.issuer.token("ivy", { roles: ["flightctl-installer"], organizations: ["default"] });
  sim = await startSimulator({
    count: COUNT,
    config: parseAgentConfig(await agentConfigYaml(t, admin, "/unused", "/unused")),
    baseDir: dir,
    labels: { fleet: "roll" },
    approve: { api: `https://localhost:${t.api.port}`, caPem: readFileSync(t.api.caPath, "utf8"), token: installer },
    // Apps whose image is tagged "broken" fail to start: the rollback path.
    failOn: /broken/,
    log: pino({ level: "silent" }),
  });
  await sim.started();
  // The plan and the rollout select connected devices only: wait until every agent's first status has landed, or a
  // device that reports between the plan and the first tick would make them differ.
  await waitFor(
    "every agent's first status",
    async () => {
      const r = await t.db.pool.query(
        `select count(*)::int n from devices where labels->>'fleet' = 'roll' and status->'summary'->>'status' not in ('Unknown', 'AwaitingReconnect')`,
      );
      return r.rows[0].n === COUNT || undefined;
    },
    60_000,
  );
  // Racks for the disruption budget: simulator-index modulo 4.
  const devices = userClient(t, DeviceService);
  const list = await devices.listDevices({ options: { labelSelector: "fleet=roll" } }, auth());
  assert.equal(list.items.length, COUNT);
  await Promise.all(
    list.items.map((d) => {
      const labels = d.metadata!.labels;
      return devices.patchDevice(
        {
          name: d.metadata!.name!,
          patch: [{ op: "add", path: "/metadata/labels/rack", value: fromJson(ValueSchema, `r${Number(labels["simulator-index"]) % 4}`) }],
        },
        auth(),
      );
    }),
  );
});

after(async () => {
  await sim?.stop();
  await t.close();
  rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});
const fleets = () => userClient(t, FleetService);
const devices = () => userClient(t, DeviceService);

function fleetDoc(templateSpec: JsonObject) {
  return fromJson(FleetSchema, {
    apiVersion: "v1beta1",
    kind: "Fleet",
    metadata: { name: "roll" },
    spec: {
      selector: { matchLabels: { fleet: "roll" } },
      template: { spec: templateSpec },
      rolloutPolicy: {
        deviceSelection: {
          strategy: "BatchSequence",
          sequence: [{ limit: "10%" }, { selector: { matchLabels: { rack: "r1" } }, limit: "50%" }, { limit: 40 }],
        },
        disruptionBudget: { groupBy: ["rack"], maxUnavailable: MAX_UNAVAILABLE },
        successThreshold: "90%",
        onFailure: "revert",
      },
    },
  });
}

const motd = (text: string) => ({
  config: [{ name: "motd", inline: [{ path: "/etc/motd", content: `${text} on {{ .metadata.labels.rack }}\n` }] }],
});

/** Samples, every 50 ms, how many devices per rack are updating (given the target but not yet up to date). */
function watchBudget(tv: () => string | undefined) {
  let worst = 0;
  let stop = false;
  const done = (async () => {
    while (!stop) {
      const version = tv();
      if (version) {
        const r = await t.db.pool.query(
          `select labels->>'rack' rack, count(*)::int n from devices where owner = 'Fleet/roll'
             and annotations->>'fleet-controller/templateVersion' = $1
             and not (annotations->>'fleet-controller/renderedTemplateVersion' = $1 and status->'updated'->>'status' = 'UpToDate')
           group by 1`,
          [version],
        );
        for (const row of r.rows) worst = Math.max(worst, row.n);
      }
      await new Promise((res) => setTimeout(res, 50));
    }
  })();
  return {
    async stop() {
      stop = true;
      await done;
      return worst;
    },
  };
}

const fleetCondition = async (type: string) =>
  (await fleets().getFleet({ name: "roll" }, auth())).status?.conditions.find((c) => c.type === type);
const selections = async (tv: string) =>
  (
    await t.db.pool.query(
      `select name, annotations->>'fleet-controller/selectedForRollout' sel from devices where owner = 'Fleet/roll' order by name`,
    )
  ).rows
    .filter((r) => r.sel?.startsWith(`${tv}/`))
    .map((r) => [r.name as string, Number(String(r.sel).slice(tv.length + 1))] as const);

test("a batched rollout under a disruption budget takes the planned batches, never exceeds the budget, and completes", async () => {
  let tv: string | undefined;
  const budget = watchBudget(() => tv);
  await fleets().replaceFleet({ name: "roll", fleet: fleetDoc(motd("first")) }, auth());
  const fleet = await waitFor("the template version", async () => {
    const f = await fleets().getFleet({ name: "roll" }, auth());
    return f.metadata?.annotations["fleet-controller/templateVersion"] ? f : undefined;
  });
  tv = fleet.metadata!.annotations["fleet-controller/templateVersion"];
  // The template version can be ready before the fleet's devices are selected: the plan says so until they are.
  const plan = await waitFor("a plan with the fleet's devices selected", async () => {
    const p = await fleets().planFleetRollout({ name: "roll" }, auth());
    return p.selectionPending ? undefined : p;
  });
  assert.equal(plan.templateVersion, tv);
  // 10 % of 100; half of rack r1 (25) minus those batch 1 already took; 40; the rest.
  const rack = new Map(
    (await devices().listDevices({ options: { labelSelector: "fleet=roll" } }, auth())).items.map((d) => [
      d.metadata!.name!,
      d.metadata!.labels.rack,
    ]),
  );
  const r1InFirst = plan.batches[0].devices.filter((n) => rack.get(n) === "r1").length;
  assert.deepEqual(
    plan.batches.map((b) => [b.name, b.devices.length]),
    [
      ["batch 1", 10],
      ["batch 2", 13 - r1InFirst],
      ["batch 3", 40],
      ["final implicit batch", 50 - 13 + r1InFirst],
    ],
  );
  assert.ok(plan.batches[1].devices.every((n) => rack.get(n) === "r1"));
  assert.equal(plan.budgetGroups.length, 4);
  // The first batch may already be on its way: what may start is what the budget leaves.
  assert.ok(
    plan.budgetGroups.every((g) => g.total === 25 && g.mayStart === Math.max(0, MAX_UNAVAILABLE - g.unavailable)),
    JSON.stringify(plan.budgetGroups),
  );

  await waitFor("the rollout to complete", async () => (await fleetCondition("RolloutInProgress"))?.reason === "Inactive", 120_000);
  const worst = await budget.stop();
  assert.ok(worst <= MAX_UNAVAILABLE, `${worst} devices of one rack updating at once (budget ${MAX_UNAVAILABLE})`);
  assert.ok(worst > 0, "the sampler saw the rollout");
  // Exactly the planned batches.
  const actual = await selections(tv!);
  const planned = plan.batches.flatMap((b) => b.devices.map((d) => [d, b.index] as const)).sort((a, b) => a[0].localeCompare(b[0]));
  assert.deepEqual(actual, planned);
  // Every agent runs it, with its own rack filled in.
  const list = await devices().listDevices({ options: { labelSelector: "fleet=roll" } }, auth());
  assert.ok(
    list.items.every(
      (d) => d.status?.updated?.status === "UpToDate" && d.metadata?.annotations["fleet-controller/renderedTemplateVersion"] === tv,
    ),
  );
  for (const [i, a] of sim.agents.entries()) {
    const content = String(sim.hosts[i].read("/etc/motd"));
    assert.equal(content, `first on r${i % 4}\n`, `agent ${i} (${a ? "running" : "?"})`);
  }
  const reasons = (
    await t.db.pool.query(`select reason from events where involved_name = 'roll' and involved_kind = 'Fleet' order by seq`)
  ).rows.map((r) => r.reason);
  assert.equal(reasons.filter((r) => r === "FleetRolloutBatchDispatched").length, 4);
  assert.equal(reasons.filter((r) => r === "FleetRolloutBatchCompleted").length, 4);
  assert.equal(reasons.filter((r) => r === "FleetRolloutCompleted").length, 1);
});

test("a failing first batch suspends the rollout and reverts the devices it updated", async () => {
  const first = (await fleets().getFleet({ name: "roll" }, auth())).metadata!.annotations["fleet-controller/templateVersion"];
  // The three first devices of batch 1 (by name) get a broken app image.
  const names = (await devices().listDevices({ options: { labelSelector: "fleet=roll" } }, auth())).items
    .map((d) => d.metadata!.name!)
    .sort();
  for (const n of names.slice(0, 3)) {
    await devices().patchDevice(
      { name: n, patch: [{ op: "add", path: "/metadata/labels/health", value: fromJson(ValueSchema, "broken") }] },
      auth(),
    );
  }
  await fleets().replaceFleet(
    {
      name: "roll",
      fleet: fleetDoc({
        ...motd("second"),
        applications: [{ name: "app", appType: "compose", image: 'quay.io/example/app:{{ getOrDefault .metadata.labels "health" "ok" }}' }],
      }),
    },
    auth(),
  );
  const suspended = await waitFor(
    "the rollout to suspend",
    async () => {
      const c = await fleetCondition("RolloutInProgress");
      return c?.reason === "Suspended" && c;
    },
    120_000,
  );
  assert.match(suspended.message!, /batch 1 reached 70%, below its success threshold of 90%/);
  const failed = (await t.db.pool.query(`select message from events where involved_name = 'roll' and reason = 'FleetRolloutFailed'`)).rows;
  assert.equal(failed.length, 1);
  assert.match(failed[0].message, new RegExp(`reverting 10 device\\(s\\) to template version ${first}`));
  // The ten devices of batch 1 converge back on the first version; nobody else ever got the second.
  await waitFor(
    "batch 1 reverted",
    async () => {
      const r = await t.db.pool.query(
        `select count(*)::int n from devices where owner = 'Fleet/roll' and annotations->>'fleet-controller/templateVersion' = $1
         and annotations->>'fleet-controller/renderedTemplateVersion' = $1 and status->'updated'->>'status' = 'UpToDate'`,
        [first],
      );
      return r.rows[0].n === COUNT;
    },
    60_000,
  );
  for (const [i] of sim.agents.entries()) {
    const content = String(sim.hosts[i].read("/etc/motd"));
    assert.equal(content, `first on r${i % 4}\n`);
  }
});
