// What runs through every fault: writers creating and patching devices and fleets over the user API (every call
// recorded with its timing and result; every acknowledged write with its value and version), and watchers on the
// writers' devices and fleets recording every change they are sent, resuming after the last version they saw when
// their stream breaks (as a client does).
import { readFileSync } from "node:fs";
import { fromJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { type Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { DeviceService } from "../../gen/flightctl/v1beta1/device_service_pb.js";
import { FleetService } from "../../gen/flightctl/v1beta1/fleet_service_pb.js";
import { DeviceSchema } from "../../gen/flightctl/v1beta1/device_pb.js";
import { FleetSchema } from "../../gen/flightctl/v1beta1/fleet_pb.js";

/** Label every writer's object carries (its writer), and the label holding the value it last wrote. */
export const WRITER_LABEL = "faults-writer";
export const VALUE_LABEL = "faults-value";
const CALL_TIMEOUT_MS = 10_000;

export interface Call {
  op: string;
  /** The object written (kind/name), for writes. */
  target?: string;
  start: number;
  end: number;
  /** Undefined: success. */
  code?: Code;
  message?: string;
}

export type Kind = "Device" | "Fleet";

/** One object's writes: the last acknowledged value and version, and values sent since whose outcome is unknown. */
export interface Acked {
  kind: Kind;
  name: string;
  /** Undefined: its creation was never acknowledged. */
  value?: number;
  rv?: string;
  /** Sent after the last acknowledgement and failed: may or may not have been applied. */
  unknown: number[];
  /** Every value sent, in order (for failure reports). */
  history: number[];
}

export interface ApiTarget {
  port: number;
  caPath: string;
  headers: Record<string, string>;
}

export function userClients(api: ApiTarget) {
  const transport = createGrpcTransport({ baseUrl: `https://localhost:${api.port}`, nodeOptions: { ca: readFileSync(api.caPath) } });
  return { devices: createClient(DeviceService, transport), fleets: createClient(FleetService, transport) };
}

const labelPatch = (value: number) => [
  { op: "replace", path: `/metadata/labels/${VALUE_LABEL}`, value: fromJson(ValueSchema, String(value)) },
];

export function startWriters(api: ApiTarget, count: number) {
  const calls: Call[] = [];
  const objects = new Map<string, Acked>();
  let paused: Promise<void> | undefined;
  let resumeFn: (() => void) | undefined;
  let stopped = false;
  let inFlight = 0;
  const clients = userClients(api);
  const opts = () => ({ headers: api.headers, timeoutMs: CALL_TIMEOUT_MS });

  async function call(
    op: string,
    target: string,
    fn: () => Promise<{ metadata?: { resourceVersion?: string } } | undefined>,
  ): Promise<string | undefined> {
    const start = Date.now();
    inFlight++;
    try {
      const res = await fn();
      calls.push({ op, target, start, end: Date.now() });
      return res?.metadata?.resourceVersion ?? "";
    } catch (e) {
      const err = ConnectError.from(e);
      calls.push({ op, target, start, end: Date.now(), code: err.code, message: err.rawMessage.slice(0, 300) });
      return undefined;
    } finally {
      inFlight--;
    }
  }

  async function create(w: number, kind: Kind, seq: number) {
    const name = `w${w}-${kind === "Device" ? "d" : "f"}${seq}`;
    const o: Acked = { kind, name, unknown: [0], history: [0] };
    objects.set(`${kind}/${name}`, o);
    const metadata = { name, labels: { [WRITER_LABEL]: String(w), [VALUE_LABEL]: "0" } };
    const rv =
      kind === "Device"
        ? await call("CreateDevice", `Device/${name}`, () =>
            clients.devices.createDevice(
              { device: fromJson(DeviceSchema, { apiVersion: "flightctl.io/v1beta1", kind: "Device", metadata, spec: {} }) },
              opts(),
            ),
          )
        : await call("CreateFleet", `Fleet/${name}`, () =>
            clients.fleets.createFleet(
              {
                fleet: fromJson(FleetSchema, {
                  apiVersion: "flightctl.io/v1beta1",
                  kind: "Fleet",
                  metadata,
                  // Selects nothing: the writers' fleets are data, not owners of the agents.
                  spec: { selector: { matchLabels: { "faults-none": name } }, template: { spec: {} } },
                }),
              },
              opts(),
            ),
          );
    if (rv !== undefined) Object.assign(o, { value: 0, rv, unknown: [] });
  }

  async function patch(o: Acked) {
    const value = Math.max(o.value!, ...o.unknown) + 1;
    o.unknown.push(value);
    o.history.push(value);
    const rv =
      o.kind === "Device"
        ? await call("PatchDevice", `Device/${o.name}`, () =>
            clients.devices.patchDevice({ name: o.name, patch: labelPatch(value) }, opts()),
          )
        : await call("PatchFleet", `Fleet/${o.name}`, () => clients.fleets.patchFleet({ name: o.name, patch: labelPatch(value) }, opts()));
    if (rv !== undefined) Object.assign(o, { value, rv, unknown: [] });
  }

  const loops = Array.from({ length: count }, async (_, w) => {
    const mine: Acked[] = [];
    let seq = 0;
    while (!stopped) {
      if (paused) await paused;
      if (stopped) break;
      const r = Math.random();
      const acked = mine.filter((o) => o.value !== undefined);
      if (acked.length < 4 || r < 0.2) {
        const kind: Kind = r < 0.05 || (acked.length < 4 && seq % 4 === 3) ? "Fleet" : "Device";
        await create(w, kind, seq++);
        mine.push(objects.get(`${kind}/w${w}-${kind === "Device" ? "d" : "f"}${seq - 1}`)!);
      } else {
        await patch(acked[Math.floor(Math.random() * acked.length)]);
      }
      // A failed call is retried after a short pause (not in a tight loop against a dead server).
      if (calls.at(-1)?.code !== undefined) await new Promise((res) => setTimeout(res, 100));
    }
  });
  return {
    calls,
    objects,
    /** Stops issuing new calls; resolves when the ones in flight have ended. */
    async pause() {
      if (paused) return;
      paused = new Promise<void>((r) => (resumeFn = r));
      // Each loop finishes its current call within CALL_TIMEOUT_MS.
      while (inFlight > 0) await new Promise((r) => setTimeout(r, 50));
    },
    resume() {
      const r = resumeFn;
      paused = undefined;
      resumeFn = undefined;
      r?.();
    },
    async stop() {
      stopped = true;
      this.resume();
      await Promise.all(loops);
    },
  };
}

export type Writers = ReturnType<typeof startWriters>;

/** A change a watcher was sent. */
export interface Seen {
  type: string;
  name: string;
  rv: number;
  /** The object's own metadata.resourceVersion (equal to rv unless the stream position and the object disagree). */
  objectRv: number;
  at: number;
}

interface WatchMessage {
  type: string;
  resourceVersion: string;
  object?: { metadata?: { name?: string; resourceVersion?: string } };
}

/** Watches `kind` objects carrying WRITER_LABEL; reconnects after its last version when the stream breaks. */
export function startWatcher(api: ApiTarget, kind: Kind) {
  const seen: Seen[] = [];
  const errors: Call[] = [];
  let resumeAt = "";
  let synced = false;
  let stopped = false;
  const ac = new AbortController();
  const clients = userClients(api);
  const open = (): AsyncIterable<WatchMessage> => {
    const req = { labelSelector: WRITER_LABEL, resourceVersion: resumeAt };
    const o = { headers: api.headers, signal: ac.signal };
    return kind === "Device" ? clients.devices.watchDevices(req, o) : clients.fleets.watchFleets(req, o);
  };
  const done = (async () => {
    while (!stopped) {
      const start = Date.now();
      try {
        for await (const m of open()) {
          if (m.type === "SYNCED") synced = true;
          if (m.type !== "SYNCED" && m.type !== "BOOKMARK") {
            // The initial list's ADDED carry no stream position; the object's own version is what was sent.
            const rv = Number(m.resourceVersion || m.object?.metadata?.resourceVersion);
            const objectRv = Number(m.object?.metadata?.resourceVersion ?? Number.NaN);
            seen.push({ type: m.type, name: m.object?.metadata?.name ?? "", rv, objectRv, at: Date.now() });
          }
          if (m.resourceVersion) resumeAt = m.resourceVersion;
        }
        if (!stopped) errors.push({ op: `Watch${kind}s`, start, end: Date.now(), message: "stream ended" });
      } catch (e) {
        if (stopped) break;
        const err = ConnectError.from(e);
        errors.push({ op: `Watch${kind}s`, start, end: Date.now(), code: err.code, message: err.rawMessage.slice(0, 300) });
      }
      if (!stopped) await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return {
    kind,
    seen,
    errors,
    get synced() {
      return synced;
    },
    async stop() {
      stopped = true;
      ac.abort();
      await done;
    },
  };
}

export type Watcher = ReturnType<typeof startWatcher>;
