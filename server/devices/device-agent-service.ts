// What devices do through the agent endpoint: report status (service fields computed, transitions recorded as
// events in the same transaction, lastSeen marked), and receive their rendered spec as a stream or a long-poll.
import { create, toJson } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  DeviceSchema,
  DeviceStatusSchema,
  type Device,
  type DeviceConsole,
  type DeviceStatusJson,
} from "../../gen/flightctl/v1beta1/device_pb.js";
import {
  WatchRenderedDeviceResponseSchema,
  type WatchRenderedDeviceResponse,
} from "../../gen/flightctl/agent/v1beta1/device_service_pb.js";
import { conflict, notFound, precondition, unavailable } from "../platform/errors.js";
import type { Logger } from "pino";
import type { Caller } from "../platform/identity.js";
import { applyJsonPatch, type PatchOp } from "../platform/json-patch.js";
import { API_VERSION } from "../platform/resource/resource-service.js";
import type { Db } from "../platform/db.js";
import { ANNOTATION_AWAITING_RECONNECT, serviceStatus, statusTransitions } from "./device-status.js";
import { afterReconnect } from "./reconnect.js";
import { enqueueRenders } from "../jobs/queues.js";
import type { LastSeenRecorder } from "./last-seen.js";
import type { RenderNotifier } from "./render-notifier.js";
import { createRenderStore } from "./render-store.js";
import { knownVersion, renderedDevice } from "./rendered-device.js";
import { createStatusStore } from "./status-store.js";
import { deviceFromReport, deviceOf, type StoredReport } from "./status-reply.js";
import { batchLoader } from "../platform/batch-loader.js";
import { jsonEqual } from "../platform/json-equal.js";
import { createHeartbeatWheel, type HeartbeatWheel } from "./heartbeat-wheel.js";
import type { StreamSink } from "../platform/grpc-stream.js";

export { ANNOTATION_RENDERED_VERSION } from "./rendered-device.js";

export interface DeviceAgentDeps {
  db: Db;
  lastSeen: LastSeenRecorder;
  notifier: RenderNotifier;
  /** Heartbeat period of rendered-device streams (default 30 s). */
  heartbeatMs?: number;
  /** Shared heartbeat timer (default: one per service). */
  wheel?: HeartbeatWheel;
  log?: Logger;
  /** Console sessions announced for this replica's streams (server/console); none: consoles are not offered. */
  consoles?: { subscribe(orgId: string, name: string, listener: (c: DeviceConsole) => void): () => void };
}

/** A render read that has not finished after this long ends its stream (the agent reconnects) instead of silencing it. */
const STUCK_READ_MS = 60_000;
/**
 * A stream's heartbeats mark lastSeen when the last mark is this old: every other beat, but never more than one beat
 * apart once beats are 45 s or longer. lastSeen feeds the 5-minute disconnect sweep and is shown to users: about once
 * a minute is close enough (the default 30 s heartbeat), and it halves the lastSeen writes of an idle fleet (an idle
 * agent sends no status: agent/status-cadence.ts).
 */
const lastSeenEveryMs = (heartbeatMs: number) => Math.min(45_000, 1.5 * heartbeatMs);
/**
 * A status stream (StreamDeviceStatus, raw path) that carried no report for this long is ended cleanly by the service:
 * two heartbeat periods, 60 s by default. The stream pays off in bursts (a rollout's reports seconds apart); an idle
 * agent reports rarely (an unchanged status is not sent: agent/status-cadence.ts), yet an open stream keeps its HTTP/2
 * stream and handler state on the service for as long as the connection lives — at 10,000 idle agents, memory for
 * nothing. The agent opens a new stream with its next report (agent/status-stream.ts), as after a draining server.
 */
const statusIdleMs = (heartbeatMs: number) => Math.min(60_000, 2 * heartbeatMs);

export function createDeviceAgentService(deps: DeviceAgentDeps) {
  const statuses = createStatusStore(deps.db);
  const renderStore = createRenderStore(deps.db);
  // A rollout wakes thousands of streams at once: their reads go to Postgres together.
  const renderReads = batchLoader((keys: readonly { orgId: string; name: string }[]) => renderStore.getMany(keys));
  const renders = { get: (orgId: string, name: string) => renderReads.load({ orgId, name }) };
  // A stream's first read: the render and whether the device exists, which the agent gate leaves to it
  // (AGENT_METHODS_READING_DEVICE).
  const openReads = batchLoader((keys: readonly { orgId: string; name: string }[]) => renderStore.getManyOfDevices(keys));
  const wheel = deps.wheel ?? createHeartbeatWheel(deps.heartbeatMs ?? 30_000);
  const markEveryMs = lastSeenEveryMs(deps.heartbeatMs ?? 30_000);
  const idleMs = statusIdleMs(deps.heartbeatMs ?? 30_000);
  // One heartbeat message (and lastSeen time) per wheel tick, shared by every stream of its bucket: the message is then
  // encoded once for all of them (grpc-stream.ts).
  let tick = { at: Number.NaN, date: new Date(0), heartbeat: create(WatchRenderedDeviceResponseSchema) };
  const tickOf = (now: number) => {
    if (now !== tick.at) {
      tick = { at: now, date: new Date(now), heartbeat: create(WatchRenderedDeviceResponseSchema, { heartbeat: timestampFromMs(now) }) };
    }
    return tick;
  };

  /** Writes a reported status (nothing when nothing changed); returns the device's labels, annotations and status as stored. */
  async function report(caller: Caller, name: string, reported: (current: DeviceStatusJson) => DeviceStatusJson): Promise<StoredReport> {
    for (let attempt = 0; attempt < 10; attempt++) {
      // This read is the check that the device still exists (the agent gate leaves it here: AGENT_METHODS_READING_DEVICE).
      const existing = await statuses.read(caller.orgId, name);
      if (!existing) throw notFound("Device", name);
      if (attempt === 0) deps.lastSeen.touch(caller.orgId, name);
      const previous = existing.status;
      const status = reported(previous ?? {});
      // A device that reports after a restore settles the handshake: ahead of the restored service, it is paused.
      const { annotations, paused } = afterReconnect(existing.annotations, status, existing.renderedVersion);
      const next = serviceStatus(status, previous, {
        annotations,
        renderedVersion: existing.renderedVersion,
        disconnected: false,
      });
      const unchanged = jsonEqual(next, previous) && jsonEqual(annotations, existing.annotations);
      if (unchanged) return { labels: existing.labels, annotations, status: next };
      const changes = paused ? [paused, ...statusTransitions(previous, next)] : statusTransitions(previous, next);
      const events = changes.map((e) => ({
        ...e,
        actor: caller.identity.actor,
        involvedObject: { kind: "Device", name },
        sourceComponent: "flightctl-api",
      }));
      const { resourceVersion: expectedVersion, renderedVersion } = existing;
      if (await statuses.write({ orgId: caller.orgId, name, expectedVersion, renderedVersion, annotations, status: next, events })) {
        // Renders were held back while it was awaited (device-tasks.ts): one that is not paused is rendered again now.
        const reconnected = existing.annotations[ANNOTATION_AWAITING_RECONNECT] === "true" && !paused;
        if (reconnected) await enqueueRenders(deps.db, caller.orgId, [name]);
        return { labels: existing.labels, annotations, status: next };
      }
    }
    throw conflict(`device "${name}" is being written concurrently; try again`);
  }

  /**
   * The stream: rendered devices as versions pass `known`, heartbeats in between, until the returned function is
   * called (the caller left) or the server drains. Callback-driven so a stream holds only this closure: one
   * notifier subscription, one wheel slot, one drain entry.
   */
  function openWatch(caller: Caller, name: string, known: string, sink: StreamSink<WatchRenderedDeviceResponse>): () => void {
    let since = knownVersion(known);
    // Until the first read found the device: that read is the stream's existence check, and the device is marked seen
    // after it (a deleted device's stream marks nothing).
    let opened = false;
    let closed = false;
    let checking = false;
    let checkStarted = 0;
    let recheck = true;
    let lastTouched = Date.now();
    // Methods, not named closures: they live as long as the stream, and under tsx a named closure costs ≈ 260 B more
    // (its name is set with Object.defineProperty: platform/grpc-stream.ts `responder`).
    const w = {
      /**
       * Reads the render whenever it may have passed `since`; one read at a time, repeated if notified meanwhile.
       * Says whether it sent the device.
       */
      async check(): Promise<boolean> {
        if (checking) return false;
        checking = true;
        checkStarted = Date.now();
        let sent = false;
        try {
          while (recheck && !closed) {
            recheck = false;
            const r = opened ? await renders.get(caller.orgId, name) : await w.open();
            if (!closed && r && r.renderedVersion > since) {
              since = r.renderedVersion;
              sink.send(create(WatchRenderedDeviceResponseSchema, { device: renderedDevice(name, r) }));
              sent = true;
            }
          }
        } catch (e) {
          w.close(e);
        } finally {
          checking = false;
        }
        return sent;
      },
      /** The first read: the render, or NotFound when the device is gone (flightctl's 404: the agent enrolls again). */
      async open() {
        const first = await openReads.load({ orgId: caller.orgId, name });
        if (!first.exists) throw notFound("Device", name);
        opened = true;
        deps.lastSeen.touch(caller.orgId, name);
        return first.render;
      },
      close(err?: unknown) {
        if (closed) return;
        closed = true;
        unsubscribe();
        stopConsoles?.();
        leave();
        stopDrain();
        sink.end(err);
      },
    };
    const unsubscribe = deps.notifier.subscribe(caller.orgId, name, (v) => {
      if (v !== undefined && v <= since) return;
      recheck = true;
      void w.check();
    });
    // Console sessions ride on this stream as flightctl's spec.consoles WITHOUT a new rendered version: the current
    // render is sent again with the new session in it, and the agent opens a console stream for each new session id.
    const stopConsoles = deps.consoles?.subscribe(caller.orgId, name, (c) => {
      renders.get(caller.orgId, name).then(
        (r) => {
          if (closed) return;
          if (r) since = Math.max(since, r.renderedVersion);
          // A device not rendered yet gets the console alone: without a version, the agent applies nothing from it.
          const device = r
            ? renderedDevice(name, r)
            : create(DeviceSchema, { apiVersion: API_VERSION, kind: "Device", metadata: { name }, spec: {} });
          device.spec?.consoles.push(c);
          sink.send(create(WatchRenderedDeviceResponseSchema, { device }));
        },
        (e) => w.close(e),
      );
    });
    const leave = wheel.join((now) => {
      if (checking) {
        // A device message is on its way; it proves liveness as well. A read that never ends would silence the
        // stream for good, so past a limit the stream ends and the agent reconnects (and reads afresh).
        if (now - checkStarted < STUCK_READ_MS) return;
        deps.log?.warn({ device: name, ms: now - checkStarted }, "rendered-device read did not finish; ending the stream");
        w.close(unavailable(`reading the rendered device did not finish within ${STUCK_READ_MS / 1000} s; reconnect`));
        return;
      }
      const { date, heartbeat } = tickOf(now);
      if (now - lastTouched >= markEveryMs) {
        lastTouched = now;
        deps.lastSeen.touch(caller.orgId, name, date);
      }
      sink.send(heartbeat);
    });
    const stopDrain = wheel.whenDraining(() => w.close());
    // The stream's first message comes at once: the device when newer than `known`, else a heartbeat (not at the
    // wheel's next tick, up to a period later). A starting agent sends its first status report when it has heard
    // what to run (agent/agent.ts startReport): one report, not one before and one after the update.
    void w.check().then((sent) => {
      if (!sent && !closed) sink.send(create(WatchRenderedDeviceResponseSchema, { heartbeat: timestampFromMs(Date.now()) }));
    });
    return () => w.close();
  }

  return {
    /** The reply is built from `device`'s status message (taken over), see status-reply.ts. */
    async replaceStatus(caller: Caller, name: string, device: Device): Promise<Device> {
      const reported = device.status ?? create(DeviceStatusSchema);
      const status = toJson(DeviceStatusSchema, reported) as DeviceStatusJson;
      return deviceFromReport(name, reported, status, await report(caller, name, () => status));
    },

    /**
     * replaceStatus without its reply, for a status in JSON (the status stream acknowledges a stored report, nothing
     * more; status-report.ts).
     */
    async storeStatus(caller: Caller, name: string, status: DeviceStatusJson): Promise<void> {
      await report(caller, name, () => status);
    },

    async patchStatus(caller: Caller, name: string, ops: PatchOp[]): Promise<Device> {
      const stored = await report(caller, name, (current) => {
        const patched: { status?: DeviceStatusJson } = applyJsonPatch({ status: current }, ops, ["/status"]);
        return patched.status ?? {};
      });
      return deviceOf(name, stored);
    },

    /** Unary long-poll: the rendered device if newer than `known`, else nothing after waiting up to `waitMs`. */
    async getRendered(caller: Caller, name: string, known: string, waitMs: number, signal: AbortSignal): Promise<Device | undefined> {
      const since = knownVersion(known);
      deps.lastSeen.touch(caller.orgId, name);
      let woke: () => void = () => {};
      const unsubscribe = deps.notifier.subscribe(caller.orgId, name, () => woke());
      try {
        const first = await renders.get(caller.orgId, name);
        if (!first) throw precondition(`no rendered version for device "${name}" yet`);
        if (first.renderedVersion > since) return renderedDevice(name, first);
        const deadline = Date.now() + waitMs;
        let ended = false;
        const onAbort = () => woke();
        const stopDrain = wheel.whenDraining(() => ((ended = true), woke()));
        signal.addEventListener("abort", onAbort, { once: true });
        try {
          while (Date.now() < deadline && !signal.aborted && !ended) {
            await new Promise<void>((resolve) => {
              const t = setTimeout(resolve, deadline - Date.now());
              woke = () => (clearTimeout(t), resolve());
            });
            const r = await renders.get(caller.orgId, name);
            if (r && r.renderedVersion > since) return renderedDevice(name, r);
          }
          return undefined;
        } finally {
          stopDrain();
          signal.removeEventListener("abort", onAbort);
        }
      } finally {
        unsubscribe();
      }
    },

    openWatch,

    /** Calls `end` when the server drains (the status stream then ends once the report in hand is stored). */
    whenDraining: (end: () => void): (() => void) => wheel.whenDraining(end),

    /**
     * A status stream's lifetime: `end` is called when the server drains or when no report came for `idleMs` (checked
     * at the stream's heartbeat-wheel tick: no timer of its own). `report` wraps the handling of each report.
     */
    holdStatusStream(end: () => void) {
      let last = Date.now();
      let busy = false;
      const leave = wheel.join((now) => {
        if (!busy && now - last >= idleMs) end();
      });
      const stopDrain = wheel.whenDraining(end);
      return {
        async report<T>(handle: () => Promise<T>): Promise<T> {
          busy = true;
          try {
            return await handle();
          } finally {
            busy = false;
            last = Date.now();
          }
        },
        close() {
          leave();
          stopDrain();
        },
      };
    },

    /** The same stream as an async generator, for Connect (Connect, gRPC-Web and JSON clients). */
    async *watch(caller: Caller, name: string, known: string, signal: AbortSignal): AsyncGenerator<WatchRenderedDeviceResponse> {
      const queue: WatchRenderedDeviceResponse[] = [];
      let ended: { err?: unknown } | undefined;
      let wake = () => {};
      const close = openWatch(caller, name, known, {
        send: (m) => (queue.push(m), wake()),
        end: (err) => ((ended = { err }), wake()),
      });
      signal.addEventListener("abort", close, { once: true });
      try {
        for (;;) {
          const next = queue.shift();
          if (next) {
            yield next;
            continue;
          }
          if (ended) {
            if (ended.err !== undefined) throw ended.err;
            return;
          }
          await new Promise<void>((resolve) => (wake = resolve));
        }
      } finally {
        signal.removeEventListener("abort", close);
        close();
      }
    },
  };
}

export type DeviceAgentService = ReturnType<typeof createDeviceAgentService>;
