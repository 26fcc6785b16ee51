// A device's lifecycle actions on its page, each behind a confirmation and shown only to roles that may do it (the
// API's access rules: decommission and resume are "update" on devices, delete is "delete"): resume (a device paused on
// a spec conflict), decommission (the agent leaves management: unenroll or factory reset) and delete.
import { useState } from "preact/hooks";
import { DeviceService } from "../../../gen/flightctl/v1beta1/device_service_pb.js";
import type { Device } from "../../../gen/flightctl/v1beta1/device_pb.js";
import { client } from "../api.js";
import { useApp } from "../common.js";
import { ConfirmButton } from "../confirm.js";
import { DeleteButton } from "../delete-button.js";
import { navigate } from "../router.js";

/** The annotation the service sets on a device paused after a conflict (its summary reads ConflictPaused). */
const CONFLICT_PAUSED = "device-controller/conflictPaused";

export const isConflictPaused = (d: Device) =>
  d.metadata?.annotations?.[CONFLICT_PAUSED] === "true" || d.status?.summary?.status === "ConflictPaused";

export function DeviceActions({ device, onChanged }: { device: Device; onChanged(d?: Device): void }) {
  const { orgId, can } = useApp();
  const name = device.metadata?.name ?? "";
  const [target, setTarget] = useState("Unenroll");
  const mayUpdate = can("devices", "update");
  const leaving = !!device.spec?.decommissioning;
  return (
    <>
      {mayUpdate && isConflictPaused(device) ? (
        <ConfirmButton
          label="Resume"
          title={`Resume device ${name}?`}
          confirmLabel="Resume"
          run={async () => {
            // By device: a field selector on its name (the RPC resumes by selector).
            const r = await client(DeviceService).resumeDevices({ orgId, fieldSelector: `metadata.name=${name}` });
            if (r.resumedDevices === 0) throw new Error(`device ${name} is no longer paused`);
          }}
          onDone={() => onChanged()}
        >
          <p>
            The device was paused because it is ahead of the service (a conflict after a restore). Resuming it lets the service send it
            updates again; do so once the conflict is resolved.
          </p>
        </ConfirmButton>
      ) : null}
      {mayUpdate && !leaving ? (
        <ConfirmButton
          label="Decommission"
          title={`Decommission device ${name}?`}
          confirmLabel="Decommission"
          danger
          run={() => client(DeviceService).decommissionDevice({ orgId, name, decommission: { target } })}
          onDone={() => onChanged()}
        >
          <p>
            The device's agent is told to leave management. From then on the device can no longer be changed; delete it once it is
            decommissioned.
          </p>
          <label>
            What the device does
            <select value={target} onChange={(e) => setTarget(e.currentTarget.value)}>
              <option value="Unenroll">Unenroll</option>
              <option value="FactoryReset">Factory reset</option>
            </select>
          </label>
        </ConfirmButton>
      ) : null}
      <DeleteButton kind="Device" name={name} onDone={() => navigate("/devices", true)} />
    </>
  );
}

/**
 * Start, stop and restart of one application of the device (flightctl's application actions, "update" on
 * devices/applications/lifecycle): the service records the request and re-renders; the agent acts on it.
 */
export function AppActions({ device, app, status, onChanged }: { device: Device; app: string; status?: string; onChanged(): void }) {
  const { orgId, can } = useApp();
  const name = device.metadata?.name ?? "";
  if (!can("devices/applications/lifecycle", "update") || device.spec?.decommissioning) return null;
  const stopped = status === "Stopped";
  const req = { orgId, name, appName: app };
  return (
    <>
      {stopped ? (
        <ConfirmButton
          label="Start"
          ariaLabel={`Start ${app}`}
          title={`Start application ${app} on ${name}?`}
          confirmLabel="Start"
          run={() => client(DeviceService).startDeviceApplication(req)}
          onDone={() => onChanged()}
        >
          <p>The application is started again and kept running, also across fleet rollouts, until it is stopped.</p>
        </ConfirmButton>
      ) : (
        <>
          <ConfirmButton
            label="Restart"
            ariaLabel={`Restart ${app}`}
            title={`Restart application ${app} on ${name}?`}
            confirmLabel="Restart"
            run={() => client(DeviceService).restartDeviceApplication(req)}
            onDone={() => onChanged()}
          >
            <p>The device's agent restarts the application once it receives the request.</p>
          </ConfirmButton>{" "}
          <ConfirmButton
            label="Stop"
            ariaLabel={`Stop ${app}`}
            title={`Stop application ${app} on ${name}?`}
            confirmLabel="Stop"
            danger
            run={() => client(DeviceService).stopDeviceApplication(req)}
            onDone={() => onChanged()}
          >
            <p>The application stays stopped, also across fleet rollouts, until it is started again.</p>
          </ConfirmButton>
        </>
      )}
    </>
  );
}

/** The devices page's field selector for devices paused after a restore conflict. */
export const PAUSED_SELECTOR = "status.summary.status=ConflictPaused";

/**
 * Resume by selector, on the devices page: every paused device matching the page's selectors (all paused devices
 * when there are none) is resumed in one ResumeDevices call.
 */
export function ResumeBySelector({
  labelSelector,
  fieldSelector,
  onDone,
}: {
  labelSelector: string;
  fieldSelector: string;
  onDone(): void;
}) {
  const { orgId, can } = useApp();
  const [resumed, setResumed] = useState<number>();
  if (!can("devices", "update")) return null;
  const fields = labelSelector || fieldSelector ? fieldSelector : PAUSED_SELECTOR;
  const which = [labelSelector && `labels ${labelSelector}`, fields && `fields ${fields}`].filter(Boolean).join(", ");
  return (
    <>
      <button type="button" class="secondary" onClick={() => navigate(`/devices?fields=${encodeURIComponent(PAUSED_SELECTOR)}`)}>
        Paused devices
      </button>{" "}
      <ConfirmButton
        label="Resume paused…"
        title="Resume paused devices?"
        confirmLabel="Resume"
        run={async () =>
          setResumed((await client(DeviceService).resumeDevices({ orgId, labelSelector, fieldSelector: fields })).resumedDevices)
        }
        onDone={onDone}
      >
        <p>
          Every device paused on a conflict (it was ahead of the service after a restore) that matches {which} gets the service's spec
          again. Resume once the conflict is resolved.
        </p>
      </ConfirmButton>
      {resumed !== undefined ? <span class="muted" aria-live="polite">{` ${resumed} device(s) resumed`}</span> : null}
    </>
  );
}
