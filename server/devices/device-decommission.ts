// flightctl's two device verbs beyond CRUD. Decommission: spec.decommissioning is set (only here), lifecycle becomes
// Decommissioning, a DeviceDecommissioned event is written and the device is re-rendered so its agent learns it;
// from then on user writes of the device are refused. Resume: conflict-paused devices picked by selectors lose the
// conflictPaused annotation, each with a DeviceConflictResolved event and a render.
import type { DeviceSchema, DeviceStatusJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import { invalid, precondition } from "../platform/errors.js";
import type { Caller } from "../platform/identity.js";
import type { ResourceService } from "../platform/resource/resource-service.js";
import type { Db } from "../platform/db.js";
import { createDeviceStore, type DeviceRecord } from "./device-store.js";
import { ANNOTATION_CONFLICT_PAUSED } from "./device-status.js";
import { enqueueRenders } from "../jobs/queues.js";
import { createRenderStore } from "./render-store.js";
import { reportedVersion } from "./reconnect.js";
import { quote } from "../../lib/quote.js";

const TARGETS = ["Unenroll", "FactoryReset"];

/** Refuses user writes of a device being decommissioned (flightctl's ErrDecommission). */
export function refuseIfDecommissioning(existing: DeviceRecord): void {
  if (existing.spec?.decommissioning)
    throw precondition(`device "${existing.name}" is decommissioning or decommissioned and can no longer be changed`);
}

export function createDeviceDecommission(db: Db, svc: ResourceService<typeof DeviceSchema>) {
  const store = createDeviceStore(db);
  const renders = createRenderStore(db);
  return {
    async decommission(caller: Caller, name: string, target: string | undefined) {
      const t = target || "Unenroll";
      if (!TARGETS.includes(t))
        throw invalid({ field: "decommission.target", message: `must be one of ${TARGETS.join(", ")}, got ${quote(t)}` });
      return svc.writeState(
        caller,
        name,
        (d) => {
          if (d.spec?.decommissioning) throw precondition(`device "${name}" is already decommissioning`);
          const status: DeviceStatusJson = {
            ...(d.status ?? {}),
            lifecycle: { status: "Decommissioning", info: "Decommission was requested" },
          };
          return { ...d, spec: { ...(d.spec ?? {}), decommissioning: { target: t } }, status, generation: d.generation + 1 };
        },
        { reason: "DeviceDecommissioned", message: `Device decommission (${t}) was requested.` },
      );
    },

    /** Resumes the matching conflict-paused devices; returns how many were resumed. */
    async resume(caller: Caller, labelSelector: string, fieldSelector: string): Promise<number> {
      if (!labelSelector && !fieldSelector)
        throw invalid({ field: "labelSelector", message: "at least one of labelSelector and fieldSelector is required" });
      const where = svc.selectorWhere({ labelSelector, fieldSelector });
      let resumed = 0;
      for (const name of await store.namesWithAnnotation(caller.orgId, ANNOTATION_CONFLICT_PAUSED, where)) {
        let changed = false;
        await svc
          .writeState(
            caller,
            name,
            (d) => {
              if (d.annotations[ANNOTATION_CONFLICT_PAUSED] !== "true") return undefined;
              const { [ANNOTATION_CONFLICT_PAUSED]: _, ...annotations } = d.annotations;
              changed = true;
              return { ...d, annotations };
            },
            { reason: "DeviceConflictResolved", message: "Device conflict was resolved; the device was resumed." },
            async (tx, rec, { key }) => {
              // The device may run a version above the service's (it was ahead of a restore): go past it.
              await renders.raiseAbove(tx, key.orgId, rec.name, reportedVersion(rec.status));
              await enqueueRenders(tx, key.orgId, [rec.name]);
            },
          )
          .catch((e: unknown) => {
            // Deleted meanwhile: nothing to resume.
            if ((e as { kind?: string }).kind !== "notFound") throw e;
          });
        if (changed) resumed++;
      }
      return resumed;
    },
  };
}
