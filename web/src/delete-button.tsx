// Delete for every kind the UI shows, behind a confirmation; absent when the role may not delete that kind.
import { EnrollmentRequestService } from "../../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { DeviceService } from "../../gen/flightctl/v1beta1/device_service_pb.js";
import { FleetService } from "../../gen/flightctl/v1beta1/fleet_service_pb.js";
import { RepositoryService } from "../../gen/flightctl/v1beta1/repository_service_pb.js";
import { ResourceSyncService } from "../../gen/flightctl/v1beta1/resourcesync_service_pb.js";
import { client } from "./api.js";
import { useApp } from "./common.js";
import { ConfirmButton } from "./confirm.js";

type Req = { orgId: string; name: string };
/** Each kind's RBAC resource, its delete call and what deleting it means beyond the object itself. */
const KINDS = {
  Device: {
    resource: "devices",
    del: (r: Req) => client(DeviceService).deleteDevice(r),
    note: "The service stops managing it. To have its agent leave cleanly, decommission the device instead.",
  },
  Fleet: {
    resource: "fleets",
    del: (r: Req) => client(FleetService).deleteFleet(r),
    note: "Its devices are not deleted.",
  },
  Repository: { resource: "repositories", del: (r: Req) => client(RepositoryService).deleteRepository(r), note: "" },
  ResourceSync: { resource: "resourcesyncs", del: (r: Req) => client(ResourceSyncService).deleteResourceSync(r), note: "" },
  EnrollmentRequest: {
    resource: "enrollmentrequests",
    del: (r: Req) => client(EnrollmentRequestService).deleteEnrollmentRequest(r),
    note: "A device that is still waiting will ask again.",
  },
} as const;
export type DeletableKind = keyof typeof KINDS;

export function DeleteButton({ kind, name, onDone }: { kind: DeletableKind; name: string; onDone?(): void }) {
  const { orgId, can } = useApp();
  const k = KINDS[kind];
  if (!can(k.resource, "delete")) return null;
  return (
    <ConfirmButton
      label="Delete"
      ariaLabel={`Delete ${kind} ${name}`}
      title={`Delete ${kind} ${name}?`}
      confirmLabel="Delete"
      danger
      run={() => k.del({ orgId, name })}
      onDone={onDone}
    >
      <p>
        The {kind} <strong class="mono">{name}</strong> will be deleted. This cannot be undone.
      </p>
      {k.note ? <p>{k.note}</p> : null}
    </ConfirmButton>
  );
}
