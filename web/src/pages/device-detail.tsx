// One device: summary, labels (editable by form), conditions, systemd units, applications, resources, their charts, events
// and its spec; kept live by a watch on this device alone.
import { useEffect, useState } from "preact/hooks";
import { fromJson, toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { DeviceService } from "../../../gen/flightctl/v1beta1/device_service_pb.js";
import { DeviceSchema, type Device } from "../../../gen/flightctl/v1beta1/device_pb.js";
import { client, errorText } from "../api.js";
import {
  Ago,
  Badge,
  Conditions,
  ErrorBox,
  Labels,
  Page,
  Section,
  labelsText,
  parseLabels,
  useApp,
  useAsync,
  useInterval,
  GridHead,
} from "../common.js";
import { keepLastSeen, LAST_SEEN_REFRESH_MS } from "./devices.js";
import { live } from "../live.js";
import { Link } from "../router.js";
import { YamlView } from "../yaml-view.js";
import { AppActions, DeviceActions } from "./device-actions.js";
import { AllEventsLink, EventsTable } from "./events.js";
import { DeviceCharts } from "../charts.js";

export function DeviceDetailPage({ name }: { name: string }) {
  const { orgId, can } = useApp();
  const dev = useAsync(() => client(DeviceService).getDevice({ orgId, name }), [orgId, name]);
  useEffect(
    () =>
      live<Device>({
        service: DeviceService,
        method: "watchDevices",
        request: { orgId, fieldSelector: `metadata.name=${name}` },
        onEvent: (ev) => ev.object && ev.type !== "DELETED" && dev.update((d) => keepLastSeen(d, ev.object!)),
        poll: dev.reload,
      }),
    [orgId, name],
  );
  useInterval(dev.reload, LAST_SEEN_REFRESH_MS);
  const d = dev.data;
  const s = d?.status;
  // A device being decommissioned can no longer be changed (the API refuses): no edit actions.
  const leaving = !!d?.spec?.decommissioning;
  return (
    <Page
      title={`Device ${d?.metadata?.labels?.alias || name}`}
      actions={
        <>
          {can("devices", "update") && !leaving ? (
            <Link href={`/edit/Device/${name}`} class="button">
              Edit YAML
            </Link>
          ) : null}
          {can("devices/console", "get") ? (
            <Link href={`/console/${name}`} class="button">
              Console
            </Link>
          ) : null}
          {d ? <DeviceActions device={d} onChanged={dev.reload} /> : null}
        </>
      }
    >
      <ErrorBox error={dev.error} />
      {d ? (
        <div class="cards">
          <Section title="Status">
            <dl class="kv">
              <dt>Name</dt>
              <dd class="mono">{name}</dd>
              <dt>Status</dt>
              <dd>
                <Badge value={s?.summary?.status} /> {s?.summary?.info}
              </dd>
              <dt>Updated</dt>
              <dd id="device-updated">
                <Badge value={s?.updated?.status} /> {s?.updated?.info}
              </dd>
              <dt>Applications</dt>
              <dd>
                <Badge value={s?.applicationsSummary?.status} /> {s?.applicationsSummary?.info}
              </dd>
              <dt>Lifecycle</dt>
              <dd id="device-lifecycle">
                <Badge value={s?.lifecycle?.status} /> {s?.lifecycle?.info}
              </dd>
              <dt>Fleet</dt>
              <dd>
                {d.metadata?.owner ? <Link href={`/fleets/${d.metadata.owner.replace(/^Fleet\//, "")}`}>{d.metadata.owner}</Link> : "–"}
              </dd>
              <dt>OS image</dt>
              <dd class="mono">{s?.os?.image || "–"}</dd>
              <dt>Rendered version</dt>
              <dd>{s?.config?.renderedVersion || "–"}</dd>
              <dt>Last seen</dt>
              <dd id="device-last-seen">
                <Ago ts={s?.lastSeen} />
              </dd>
            </dl>
          </Section>
          <LabelsCard
            device={d}
            canEdit={can("devices", "patch") && !leaving}
            onSaved={(saved) => dev.update((p) => keepLastSeen(p, saved))}
          />
          <Section title="Conditions">
            <Conditions list={s?.conditions} />
          </Section>
          <Section title="Resources">
            <dl class="kv">
              <dt>CPU</dt>
              <dd>
                <Badge value={s?.resources?.cpu} />
              </dd>
              <dt>Memory</dt>
              <dd>
                <Badge value={s?.resources?.memory} />
              </dd>
              <dt>Disk</dt>
              <dd>
                <Badge value={s?.resources?.disk} />
              </dd>
            </dl>
          </Section>
          <DeviceCharts name={name} />
          <Section title="Applications">
            {s?.applications?.length ? (
              <table class="grid">
                <GridHead cols={["Name", "Status", "Ready", "Restarts", ""]} />
                <tbody>
                  {s.applications.map((a) => (
                    <tr key={a.name}>
                      <td>{a.name}</td>
                      <td>
                        <Badge value={a.status} />
                      </td>
                      <td>{a.ready}</td>
                      <td>{a.restarts}</td>
                      <td>{d && a.name ? <AppActions device={d} app={a.name} status={a.status} onChanged={dev.reload} /> : null}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <p class="muted">No applications.</p>
            )}
          </Section>
          <Section title="Systemd units">
            {s?.systemd?.length ? (
              <table class="grid">
                <GridHead cols={["Unit", "Active", "Enabled"]} />
                <tbody>
                  {s.systemd.map((u) => (
                    <tr key={u.unit}>
                      <td>{u.unit}</td>
                      <td>
                        <Badge value={u.activeState} />
                      </td>
                      <td>{u.enableState}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <p class="muted">No systemd units reported.</p>
            )}
          </Section>
          <Section title="Spec">
            <YamlView label="Device spec" value={(toJson(DeviceSchema, d) as { spec?: unknown }).spec ?? {}} />
          </Section>
          <Section title="Events">
            <EventsTable fieldSelector={`involvedObject.kind=Device,involvedObject.name=${name}`} limit={20} showObject={false} />
            <AllEventsLink kind="Device" name={name} />
          </Section>
        </div>
      ) : null}
    </Page>
  );
}

/** The common edit: a device's labels, by form (a JSON patch replacing metadata.labels). */
function LabelsCard({ device, canEdit, onSaved }: { device: Device; canEdit: boolean; onSaved(d: Device): void }) {
  const { orgId } = useApp();
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState("");
  const [error, setError] = useState<string>();
  const save = async (e: Event) => {
    e.preventDefault();
    try {
      const labels = parseLabels(draft);
      const d = await client(DeviceService).patchDevice({
        orgId,
        name: device.metadata?.name ?? "",
        patch: [{ op: "replace", path: "/metadata/labels", value: fromJson(ValueSchema, labels) }],
      });
      onSaved(d);
      setEditing(false);
      setError(undefined);
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <Section title="Labels">
      {editing ? (
        <form onSubmit={save} class="inline-form">
          <label>
            Labels (key=value, comma separated)
            {/* biome-ignore lint/a11y/noAutofocus: the form opens on the user's "Edit" click; the field is what they asked for */}
            <input name="labels" value={draft} onInput={(e) => setDraft(e.currentTarget.value)} autoFocus />
          </label>
          <button type="submit">Save labels</button>
          <button type="button" class="secondary" onClick={() => setEditing(false)}>
            Cancel
          </button>
          <ErrorBox error={error} />
        </form>
      ) : (
        <>
          <Labels labels={device.metadata?.labels} />
          {canEdit ? (
            <button
              type="button"
              onClick={() => {
                setDraft(labelsText(device.metadata?.labels));
                setEditing(true);
              }}
            >
              Edit labels
            </button>
          ) : null}
        </>
      )}
    </Section>
  );
}
