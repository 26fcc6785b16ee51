// Background work on devices (graphile-worker tasks; they call services and stores, never RPC handlers):
// render_device turns a device's spec into its rendered spec and version; disconnect_sweep marks devices that stopped
// reporting. Both are idempotent: running one twice changes nothing the second time.
import type { JsonObject } from "@bufbuild/protobuf";
import type { Task } from "graphile-worker";
import { sql } from "drizzle-orm";
import { insertEvent } from "../events/event-store.js";
import { setCondition } from "../platform/conditions.js";
import { createResourceStore, type Db, type Executor, type ResourceRecord } from "../platform/resource/resource-store.js";
import { DISCONNECTED_AFTER_MS, disconnectedStatus, statusTransitions, type StatusEvent } from "./device-status.js";
import { createRenderStore } from "./render-store.js";
import { renderDevice, RenderError, type ConfigResolver } from "./renderer.js";

const actor = "service:flightctl-worker";

export function createDeviceTasks(db: Db, opts: { resolvers?: Record<string, ConfigResolver> } = {}) {
  const devices = createResourceStore(db, { kind: "Device", table: "devices" });
  const renders = createRenderStore(db);

  async function events(tx: Executor, orgId: string, name: string, list: StatusEvent[]) {
    for (const e of list) await insertEvent(tx, orgId, { ...e, actor, involvedObject: { kind: "Device", name }, sourceComponent: "flightctl-worker" });
  }

  /** CAS-updates a device's status with `next(status)`; `extra` runs in the same transaction. */
  async function updateStatus(r: ResourceRecord, orgId: string, status: JsonObject, list: StatusEvent[], extra?: (tx: Executor) => Promise<void>) {
    return devices.update({ orgId, name: r.name }, r.resourceVersion, { ...r, status }, undefined, async (tx) => {
      await events(tx, orgId, r.name, list);
      await extra?.(tx);
    });
  }

  async function render(orgId: string, name: string): Promise<void> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const r = await devices.get({ orgId, name });
      if (!r) {
        await db.transaction((tx) => renders.delete(tx, orgId, name));
        return;
      }
      const status = (r.status ?? {}) as JsonObject;
      const conditions = (status.conditions ?? []) as JsonObject[];
      const wasValid = conditions.find((c) => c.type === "SpecValid");
      let rendered;
      try {
        rendered = await renderDevice({ orgId, name, spec: r.spec as JsonObject | null, resolvers: opts.resolvers });
      } catch (e) {
        if (!(e instanceof RenderError)) throw e;
        if (wasValid?.status === "False" && wasValid.message === e.message) return;
        const next = { ...status, conditions: setCondition(conditions, { type: "SpecValid", status: "False", reason: "Invalid", message: e.message }) };
        if (await updateStatus(r, orgId, next, [{ reason: "DeviceSpecInvalid", type: "Warning", message: e.message }])) return;
        continue;
      }
      // The new version and what it means for the device's status land together.
      const done = await db.transaction(async (tx) => {
        const { version, changed } = await renders.put(tx, orgId, name, rendered.spec, rendered.hash);
        let next = status;
        const list: StatusEvent[] = [];
        if (wasValid?.status === "False") {
          next = { ...next, conditions: setCondition(conditions, { type: "SpecValid", status: "True", reason: "Valid", message: "" }) };
          list.push({ reason: "DeviceSpecValid", type: "Normal", message: "Device specification is valid" });
        }
        const running = Number(((next.config ?? {}) as JsonObject).renderedVersion ?? 0);
        const connected = ((next.summary ?? {}) as JsonObject).status !== "Unknown";
        if (changed && connected && running !== version) {
          const updated = { status: "OutOfDate", info: `Device is running version ${running}; version ${version} is rendered` };
          list.push(...statusTransitions(next, { ...next, updated }));
          next = { ...next, updated };
        }
        if (next === status) return true;
        const tdevices = createResourceStore(tx as unknown as Db, { kind: "Device", table: "devices" });
        const written = await tdevices.update({ orgId, name }, r.resourceVersion, { ...r, status: next }, undefined, (t) => events(t, orgId, name, list));
        // A lost swap rolls the render back too; the next attempt renders again from the newer row.
        if (!written) throw new Retry();
        return true;
      }).catch((e) => {
        if (e instanceof Retry) return false;
        throw e;
      });
      if (done) return;
    }
    throw new Error(`device ${orgId}/${name} kept changing while rendering`);
  }

  /** Devices not heard from for 5 minutes: summary, updated and applications turn Unknown, with DeviceDisconnected. */
  async function sweep(limit = 1000): Promise<number> {
    const res = await db.execute(sql`select d.org_id, d.name from devices d
      join device_last_seen l on l.org_id = d.org_id and l.name = d.name
      where l.last_seen < now() - make_interval(secs => ${DISCONNECTED_AFTER_MS / 1000})
        and coalesce(d.status->'summary'->>'status', '') not in ('Unknown', 'AwaitingReconnect')
      limit ${limit}`);
    let marked = 0;
    for (const row of res.rows as { org_id: string; name: string }[]) {
      const r = await devices.get({ orgId: row.org_id, name: row.name });
      if (!r) continue;
      const render = await renders.get(row.org_id, row.name);
      const previous = (r.status ?? {}) as JsonObject;
      const next = disconnectedStatus(previous, { annotations: r.annotations, renderedVersion: render?.renderedVersion });
      // A concurrent report means the device is alive after all: skip it (no retry).
      if (await updateStatus(r, row.org_id, next, statusTransitions(previous, next))) marked++;
    }
    return marked;
  }

  const tasks: Record<string, Task> = {
    render_device: async (payload) => {
      const { orgId, name } = payload as { orgId: string; name: string };
      await render(orgId, name);
    },
    disconnect_sweep: async (_payload, helpers) => {
      const marked = await sweep();
      if (marked > 0) helpers.logger.info(`marked ${marked} device(s) disconnected`);
    },
  };
  return { render, sweep, tasks };
}

class Retry extends Error {}
