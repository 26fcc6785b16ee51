// flightctl's application actions: start/stop/restart of one application of a device, start/stop of one application
// of a fleet's template. Each records an override (app-override-store.ts) instead of touching the spec, writes an
// event and queues the render of the devices it concerns, all in one transaction; the render applies it
// (app-overrides.ts), so the agent sees desiredState/restartGeneration change in its rendered application.
import { DomainError, invalid, precondition } from "../platform/errors.js";
import type { Caller } from "../platform/identity.js";
import type { Db } from "../platform/db.js";
import { insertEvent } from "../platform/event-store.js";
import { enqueueRenders } from "../jobs/queues.js";
import { quote } from "../../lib/quote.js";
import { createAppOverrideStore, type DesiredState } from "./app-override-store.js";
import { createRenderStore } from "./render-store.js";
import { createDeviceStore } from "./device-store.js";
import { effectiveState } from "./app-overrides.js";

export type DeviceAppAction = "start" | "stop" | "restart";
export type FleetAppAction = "start" | "stop";

/** An application as the actions see it (the generated message or JSON both fit). */
interface NamedApp {
  name?: string;
  image?: string;
}
const nameOf = (a: NamedApp) => a.name || a.image || "";

const STATE: Record<"start" | "stop", DesiredState> = { start: "running", stop: "stopped" };
const VERB: Record<DeviceAppAction, string> = { start: "Start", stop: "Stop", restart: "Restart" };

function checkAppName(app: string) {
  if (!app) throw invalid({ field: "appName", message: "is required" });
}

function missingApp(app: string, where: string, known: string[]): DomainError {
  const have = known.length ? `it has ${known.map((n) => quote(n)).join(", ")}` : "it has no applications";
  return new DomainError("notFound", `application ${quote(app)} not found in ${where}; ${have}`);
}

export function createAppActions(db: Db) {
  const overrides = createAppOverrideStore(db);
  const renders = createRenderStore(db);
  const devices = createDeviceStore(db);

  return {
    /**
     * A device action. `device` is the device as the caller may read it (NotFound already raised); the application
     * must be in the device's rendered spec (or, before its first render, its own spec).
     */
    async onDevice(
      caller: Caller,
      device: { name: string; owner?: string; apps: NamedApp[]; decommissioning: boolean },
      app: string,
      action: DeviceAppAction,
    ): Promise<void> {
      checkAppName(app);
      const orgId = caller.orgId;
      if (device.decommissioning)
        throw precondition(`device ${quote(device.name)} is decommissioning; its applications can no longer be changed`);
      const rendered = await renders.get(orgId, device.name);
      const known = (rendered ? (rendered.spec.applications ?? []) : device.apps).map(nameOf);
      if (!known.includes(app)) throw missingApp(app, `device ${quote(device.name)}`, known);
      const fleet = device.owner?.startsWith("Fleet/") ? device.owner.slice("Fleet/".length) : undefined;
      if (action === "restart") {
        const stored = await overrides.forRender(orgId, [device.name], fleet ? [fleet] : []);
        const mine = stored.find((o) => o.ownerKind === "Device" && o.appName === app);
        const fleets = stored.find((o) => o.ownerKind === "Fleet" && o.appName === app);
        if (effectiveState(mine, fleets) === "stopped")
          throw precondition(`application ${quote(app)} on device ${quote(device.name)} is stopped; start it instead of restarting it`);
      }
      await db.transaction(async (tx) => {
        let message: string;
        if (action === "restart") {
          const generation = await overrides.bumpRestart(tx, orgId, device.name, app);
          message = `Restart of application ${quote(app)} was requested (restart generation ${generation}).`;
        } else {
          await overrides.setState(tx, orgId, "Device", device.name, app, STATE[action]);
          message = `${VERB[action]} of application ${quote(app)} was requested (desired state ${STATE[action]}).`;
        }
        await insertEvent(tx, orgId, {
          reason: `DeviceApplication${VERB[action]}Requested`,
          type: "Normal",
          message,
          actor: caller.identity.actor,
          involvedObject: { kind: "Device", name: device.name },
          sourceComponent: "flightctl-api",
        });
        await enqueueRenders(tx, orgId, [device.name]);
      });
    },

    /** A fleet action; the application must be in the fleet's device template. */
    async onFleet(caller: Caller, fleet: { name: string; apps: NamedApp[] }, app: string, action: FleetAppAction): Promise<void> {
      checkAppName(app);
      const orgId = caller.orgId;
      const known = fleet.apps.map(nameOf);
      if (!known.includes(app)) throw missingApp(app, `the template of fleet ${quote(fleet.name)}`, known);
      const members = await devices.ownedNames(orgId, `Fleet/${fleet.name}`);
      await db.transaction(async (tx) => {
        await overrides.setState(tx, orgId, "Fleet", fleet.name, app, STATE[action]);
        await insertEvent(tx, orgId, {
          reason: `FleetApplication${VERB[action]}Requested`,
          type: "Normal",
          message: `${VERB[action]} of application ${quote(app)} was requested for the fleet's ${members.length} device(s) (desired state ${STATE[action]}).`,
          actor: caller.identity.actor,
          involvedObject: { kind: "Fleet", name: fleet.name },
          sourceComponent: "flightctl-api",
        });
        // Devices that join later read the fleet's override when they are rendered.
        await enqueueRenders(tx, orgId, members);
      });
    },
  };
}
