import { fleetTestApp } from "./helpers/fleet-app.js";
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import pino from "pino";
import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { testUser, type TestApp } from "./helpers/app.js";
import { createCsr, deviceNameFromPublicKey, generateDeviceKey } from "../lib/csr.js";
import { fieldViolations } from "../lib/field-violations.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { DeviceSchema } from "../gen/flightctl/v1beta1/device_pb.js";
import { FleetService } from "../gen/flightctl/v1beta1/fleet_service_pb.js";
import { FleetSchema } from "../gen/flightctl/v1beta1/fleet_pb.js";
import { EnrollmentRequestService } from "../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { fleetKind } from "../server/fleets/fleet-service.js";
import { decideOwnership } from "../server/fleets/fleet-ownership.js";
import { createDeviceAgentService } from "../server/devices/device-agent-service.js";
import { createLastSeenRecorder } from "../server/devices/last-seen.js";
import { createHeartbeatWheel } from "../server/devices/heartbeat-wheel.js";
import type { RenderNotifier } from "../server/devices/render-notifier.js";
import { kindServiceOn } from "../server/platform/resource/kind.js";
import { createDb } from "../server/platform/db.js";
import { DEFAULT_ORG_ID, type Caller } from "../server/platform/identity.js";
import { parseLabelSelector } from "../server/platform/selectors/label-selector.js";
import type { Db } from "../server/platform/resource/resource-store.js";

let t: TestApp;
let db: Db;
const jobs = fleetTestApp((app, appDb) => {
  t = app;
  db = appDb;
});

const devices = () => createClient(DeviceService, t.transport);
const fleets = () => createClient(FleetService, t.transport);
const requests = () => createClient(EnrollmentRequestService, t.transport);
const admin: Caller = { orgId: DEFAULT_ORG_ID, identity: testUser("admin", ["admin"]) };

const fleetMsg = (name: string, selector: JsonObject) =>
  fromJson(FleetSchema, { apiVersion: "v1beta1", kind: "Fleet", metadata: { name }, spec: { selector, template: { spec: {} } } });
const putFleet = (name: string, selector: JsonObject) => fleets().replaceFleet({ name, fleet: fleetMsg(name, selector) });
const deviceMsg = (name: string, labels: Record<string, string>) =>
  fromJson(DeviceSchema, { apiVersion: "v1beta1", kind: "Device", metadata: { name, labels }, spec: {} });

/** An agent's enrollment request (a real key and CSR) with `labels`; returns the device name. */
async function requestEnrollment(labels: Record<string, string>): Promise<string> {
  const keys = await generateDeviceKey();
  const name = await deviceNameFromPublicKey(keys.publicKey);
  const csr = await createCsr(keys, name);
  await requests().createEnrollmentRequest({
    enrollmentRequest: { apiVersion: "v1beta1", kind: "EnrollmentRequest", metadata: { name }, spec: { csr, labels } },
  });
  return name;
}
const approve = (name: string, labels: Record<string, string> = {}, replaceLabels = false) =>
  requests().approveEnrollmentRequest({ name, approval: { approved: true, labels, replaceLabels } });

const ownerOf = async (name: string) => (await devices().getDevice({ name })).metadata?.owner ?? "<none>";
const multipleOwners = async (name: string) =>
  (await devices().getDevice({ name })).status?.conditions.find((c) => c.type === "MultipleOwners")?.status ?? "";
const selectionJobs = async () =>
  (await t.db.pool.query(`select count(*)::int n from graphile_worker.jobs where task_identifier = 'fleet_selection'`)).rows[0].n as number;

/** The agent endpoint's service, as the API builds it, for a status report of `name`. */
async function agentReport(name: string, labels: Record<string, string>) {
  const recorder = createLastSeenRecorder(createDb(t.db.pool), pino({ level: "silent" }), { flushMs: 60_000 });
  const wheel = createHeartbeatWheel(60_000);
  const notifier = { subscribe: () => () => {} } as unknown as RenderNotifier;
  const svc = createDeviceAgentService({ db: createDb(t.db.pool), lastSeen: recorder, notifier, wheel });
  const caller: Caller = {
    orgId: DEFAULT_ORG_ID,
    identity: { kind: "device", actor: `device:${name}`, username: name, deviceName: name, orgId: DEFAULT_ORG_ID },
  };
  try {
    // A report carrying other labels in its metadata: a status report changes status only.
    await svc.replaceStatus(
      caller,
      name,
      fromJson(DeviceSchema, { metadata: { name, labels }, status: { summary: { status: "Online" } } }),
    );
  } finally {
    wheel.close();
    await recorder.close();
  }
}

/** ResourceSync's writes go through the fleet kind's owned-apply and owned-delete, on its transaction. */
const resourceSync = () => kindServiceOn(fleetKind, db, "flightctl-resourcesync");

interface Row {
  path: string;
  /** Acts; returns the device whose owner is checked. */
  act(): Promise<string>;
  owner: string;
  /** MultipleOwners condition expected ("True"/"False"), when the row is about it. */
  multiple?: string;
}

// Rows run in order and share state: fleet "lab" selects site=lab, fleet "edge" selects tier=edge.
const state: Record<string, string> = {};
const rows: Row[] = [
  {
    path: "enrollment approval: labels from the request (agent --labels, simulate --labels)",
    act: async () => ((state.er1 = await requestEnrollment({ site: "lab" })), await approve(state.er1), state.er1),
    owner: "Fleet/lab",
    multiple: "False",
  },
  {
    // The agent sends its config's default-labels as the request's labels (agent/agent.ts): the same request field.
    path: "enrollment approval: labels from the agent's default-labels (request labels)",
    act: async () => {
      const n = await requestEnrollment({ site: "lab", "default-label": "yes" });
      await approve(n);
      return n;
    },
    owner: "Fleet/lab",
  },
  {
    path: "enrollment approval: labels from the approver (-l), none in the request",
    act: async () => ((state.er3 = await requestEnrollment({})), await approve(state.er3, { site: "lab" }), state.er3),
    owner: "Fleet/lab",
  },
  {
    path: "enrollment approval: the approver's labels replace the request's (replaceLabels)",
    act: async () => {
      const n = await requestEnrollment({ site: "lab" });
      await approve(n, { site: "elsewhere" }, true);
      return n;
    },
    owner: "<none>",
  },
  {
    path: "enrollment approval: labels matching two fleets (MultipleOwners, no owner taken)",
    act: async () => ((state.er5 = await requestEnrollment({ site: "lab", tier: "edge" })), await approve(state.er5), state.er5),
    owner: "<none>",
    multiple: "True",
  },
  {
    path: "CreateDevice",
    act: async () => (await devices().createDevice({ device: deviceMsg("own-create", { site: "lab" }) }), "own-create"),
    owner: "Fleet/lab",
  },
  {
    path: "ReplaceDevice creating a device",
    act: async () => (await devices().replaceDevice({ name: "own-put", device: deviceMsg("own-put", { tier: "edge" }) }), "own-put"),
    owner: "Fleet/edge",
  },
  {
    path: "ReplaceDevice relabelling a standalone device",
    act: async () => {
      await devices().createDevice({ device: deviceMsg("own-relabel", { site: "none" }) });
      await jobs.drain();
      assert.equal(await ownerOf("own-relabel"), "<none>");
      await devices().replaceDevice({ name: "own-relabel", device: deviceMsg("own-relabel", { site: "lab" }) });
      return "own-relabel";
    },
    owner: "Fleet/lab",
  },
  {
    path: "PatchDevice adding a label (label-only patch)",
    act: async () => {
      await devices().createDevice({ device: deviceMsg("own-patch", {}) });
      await devices().patchDevice({
        name: "own-patch",
        patch: [{ op: "add", path: "/metadata/labels/site", value: fromJson(ValueSchema, "lab") }],
      });
      return "own-patch";
    },
    owner: "Fleet/lab",
  },
  {
    path: "PatchDevice adding a label to a device its fleet owns before the template reached it (no spec yet)",
    act: async () => {
      await devices().createDevice({ device: deviceMsg("own-nospec", { site: "lab" }) });
      await jobs.drain();
      // The moment between selection and the fleet's first render: owned, with no spec.
      await t.db.pool.query(`update devices set spec = null where name = 'own-nospec'`);
      await devices().patchDevice({
        name: "own-nospec",
        patch: [{ op: "add", path: "/metadata/labels/rack", value: fromJson(ValueSchema, "r1") }],
      });
      return "own-nospec";
    },
    owner: "Fleet/lab",
  },
  {
    path: "PatchDevice removing the label (label-only patch) releases the device",
    act: async () => {
      await devices().patchDevice({ name: "own-patch", patch: [{ op: "remove", path: "/metadata/labels/site" }] });
      return "own-patch";
    },
    owner: "<none>",
  },
  {
    path: "PatchDevice of a MultipleOwners device dropping one match resolves it",
    act: async () => {
      await devices().patchDevice({ name: state.er5, patch: [{ op: "remove", path: "/metadata/labels/tier" }] });
      return state.er5;
    },
    owner: "Fleet/lab",
    multiple: "False",
  },
  {
    path: "agent status report (labels are not part of a report: nothing to select, no selection queued)",
    act: async () => {
      await jobs.drain();
      await agentReport(state.er1, { site: "elsewhere" });
      assert.equal(await selectionJobs(), 0, "a status report queues no fleet selection");
      assert.deepEqual((await devices().getDevice({ name: state.er1 })).metadata?.labels, { site: "lab" });
      return state.er1;
    },
    owner: "Fleet/lab",
  },
  {
    path: "fleet created: selects the existing devices its selector matches",
    act: async () => {
      await devices().createDevice({ device: deviceMsg("own-yard", { site: "yard" }) });
      await jobs.drain();
      assert.equal(await ownerOf("own-yard"), "<none>");
      await putFleet("yard", { matchLabels: { site: "yard" } });
      return "own-yard";
    },
    owner: "Fleet/yard",
  },
  {
    path: "fleet selector changed: a device it now matches joins",
    act: async () => {
      await devices().createDevice({ device: deviceMsg("own-dock", { site: "dock" }) });
      await putFleet("yard", { matchExpressions: [{ key: "site", operator: "In", values: ["yard", "dock"] }] });
      return "own-dock";
    },
    owner: "Fleet/yard",
  },
  {
    path: "fleet selector changed: a device it no longer matches is released",
    act: async () => (await putFleet("yard", { matchLabels: { site: "dock" } }), "own-yard"),
    owner: "<none>",
  },
  {
    path: "fleet deleted: its devices are released",
    act: async () => (await fleets().deleteFleet({ name: "yard" }), "own-dock"),
    owner: "<none>",
  },
  {
    path: "ResourceSync applies a fleet (create): matching devices join",
    act: async () => {
      await resourceSync().applyOwned(admin, fleetMsg("git-dock", { matchLabels: { site: "dock" } }), "ResourceSync/rs");
      return "own-dock";
    },
    owner: "Fleet/git-dock",
  },
  {
    path: "ResourceSync changes the fleet's selector: devices move",
    act: async () => {
      await resourceSync().applyOwned(admin, fleetMsg("git-dock", { matchLabels: { site: "yard" } }), "ResourceSync/rs");
      assert.equal(await ownerOf("own-dock"), "Fleet/git-dock", "nothing moves before the selection job runs");
      return "own-yard";
    },
    owner: "Fleet/git-dock",
  },
  {
    path: "ResourceSync deletes the fleet: its devices are released",
    act: async () => (await resourceSync().deleteOwned(admin, "git-dock", "ResourceSync/rs"), "own-yard"),
    owner: "<none>",
  },
];

describe("fleet ownership on every path", () => {
  before(async () => {
    await putFleet("lab", { matchLabels: { site: "lab" } });
    await putFleet("edge", { matchLabels: { tier: "edge" } });
    await jobs.drain();
  });

  for (const row of rows) {
    test(`${row.path} → ${row.owner}`, async () => {
      const name = await row.act();
      await jobs.drain();
      assert.equal(await ownerOf(name), row.owner, row.path);
      if (row.multiple) assert.equal(await multipleOwners(name), row.multiple, `${row.path}: MultipleOwners`);
    });
  }

  test("the refusal of a direct edit of a fleet-owned device names the owner and the fix, with a field violation", async () => {
    const err = await devices()
      .replaceDevice({
        name: "own-create",
        device: fromJson(DeviceSchema, {
          apiVersion: "v1beta1",
          kind: "Device",
          metadata: { name: "own-create", labels: { site: "lab" } },
          spec: { os: { image: "quay.io/x:1" } },
        }),
      })
      .then(
        () => undefined,
        (e) => ConnectError.from(e),
      );
    assert.equal(err?.code, Code.FailedPrecondition);
    assert.match(err!.rawMessage, /Device "own-create" is owned by Fleet\/lab/);
    assert.match(err!.rawMessage, /change the template of Fleet\/lab, or remove the device from the fleet by changing its labels/);
    const violations = fieldViolations(err!);
    assert.equal(violations[0]?.field, "spec");
    assert.match(violations[0]?.message ?? "", /owned by Fleet\/lab/);
  });
});

describe("the ownership rule (decideOwnership)", () => {
  const lab = { name: "lab", selector: parseLabelSelector("site=lab") };
  const edge = { name: "edge", selector: parseLabelSelector("tier=edge") };
  const empty = { name: "empty", selector: undefined };
  const multi = (fleets: string) => ({
    conditions: [
      { type: "MultipleOwners", status: "True", reason: "MultipleOwners", message: `Device matches multiple fleets: ${fleets}` },
    ],
  });
  const cases: {
    what: string;
    owner: string | null;
    labels: Record<string, string>;
    status?: JsonObject;
    fleets: (typeof lab | typeof empty)[];
    want: string | null;
    multiple?: string;
    events: string[];
  }[] = [
    {
      what: "one match owns",
      owner: null,
      labels: { site: "lab" },
      fleets: [lab, edge],
      want: "Fleet/lab",
      multiple: "False",
      events: ["ResourceUpdated"],
    },
    { what: "no match releases", owner: "Fleet/lab", labels: {}, fleets: [lab], want: null, events: ["ResourceUpdated"] },
    { what: "an empty selector matches nothing", owner: null, labels: { site: "lab" }, fleets: [empty], want: null, events: [] },
    {
      what: "two matches keep the owner and set MultipleOwners",
      owner: "Fleet/lab",
      labels: { site: "lab", tier: "edge" },
      fleets: [lab, edge],
      want: "Fleet/lab",
      multiple: "True",
      events: ["DeviceMultipleOwnersDetected"],
    },
    {
      what: "a resolved conflict keeps its single match",
      owner: "Fleet/lab",
      labels: { site: "lab" },
      status: multi("lab, edge"),
      fleets: [lab, edge],
      want: "Fleet/lab",
      multiple: "False",
      events: ["DeviceMultipleOwnersResolved"],
    },
    {
      what: "a device owned by something other than a fleet is left alone",
      owner: "ResourceSync/x",
      labels: { site: "lab" },
      fleets: [lab],
      want: "ResourceSync/x",
      events: [],
    },
    {
      what: "an unchanged member writes nothing",
      owner: "Fleet/lab",
      labels: { site: "lab" },
      status: { conditions: [{ type: "MultipleOwners", status: "False" }] },
      fleets: [lab],
      want: "Fleet/lab",
      events: [],
    },
  ];
  for (const c of cases) {
    test(c.what, () => {
      const d = decideOwnership({ name: "d", labels: c.labels, owner: c.owner, status: (c.status ?? null) as never }, c.fleets);
      assert.equal(d.owner, c.want);
      assert.deepEqual(
        d.events.map((e) => e.reason),
        c.events,
      );
      assert.equal(d.changed, c.events.length > 0);
      if (c.multiple) assert.equal(d.status?.conditions?.find((x) => x.type === "MultipleOwners")?.status, c.multiple);
    });
  }
});
