// Applying the application lifecycle overrides to a device's applications at render time (flightctl's semantics):
// the desired state is the more recent of the device's and its fleet's start/stop; the restart generation is the
// device's. Applications without any override render unchanged (no desiredState, no restartGeneration).
import type { ApplicationProviderSpecJson, DeviceSpecJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import type { AppOverride, DesiredState } from "./app-override-store.js";

/** An application's name as the actions address it: its name, or its image when it has none (as the agent names it). */
export const appNameOf = (app: ApplicationProviderSpecJson): string => String(app.name ?? app.image ?? "");

/** The overrides that concern one device: its own and its fleet's, by application name. */
export interface DeviceOverrides {
  device: Map<string, AppOverride>;
  fleet: Map<string, AppOverride>;
}

/** Groups stored overrides for one device ("Fleet/<name>" owner, or null for a standalone device). */
export function overridesFor(all: readonly AppOverride[], device: string, owner: string | null): DeviceOverrides {
  const fleet = owner?.startsWith("Fleet/") ? owner.slice("Fleet/".length) : undefined;
  const out: DeviceOverrides = { device: new Map(), fleet: new Map() };
  for (const o of all) {
    if (o.ownerKind === "Device" && o.ownerName === device) out.device.set(o.appName, o);
    else if (o.ownerKind === "Fleet" && fleet !== undefined && o.ownerName === fleet) out.fleet.set(o.appName, o);
  }
  return out;
}

/** The effective desired state of one application: the more recently issued of the device's and the fleet's. */
export function effectiveState(device: AppOverride | undefined, fleet: AppOverride | undefined): DesiredState | undefined {
  const d = device?.desiredState ? device : undefined;
  const f = fleet?.desiredState ? fleet : undefined;
  if (!d) return f?.desiredState ?? undefined;
  if (!f) return d.desiredState ?? undefined;
  return (f.stateSetAt ?? 0n) > (d.stateSetAt ?? 0n) ? (f.desiredState ?? undefined) : (d.desiredState ?? undefined);
}

/** The spec with desiredState/restartGeneration set on the applications that have overrides (a copy; input untouched). */
export function applyAppOverrides(spec: DeviceSpecJson | null, o: DeviceOverrides): DeviceSpecJson | null {
  if (!spec?.applications?.length || (o.device.size === 0 && o.fleet.size === 0)) return spec;
  const applications = spec.applications.map((app) => {
    const name = appNameOf(app);
    const state = effectiveState(o.device.get(name), o.fleet.get(name));
    const generation = o.device.get(name)?.restartGeneration ?? 0;
    if (!state && !generation) return app;
    return { ...app, ...(state ? { desiredState: state } : {}), ...(generation ? { restartGeneration: generation } : {}) };
  });
  return { ...spec, applications };
}
