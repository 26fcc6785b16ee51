// Agent endpoint, management certificate: the device's rendered spec (stream or long-poll) and its status reports.
import type { ConnectRouter } from "@connectrpc/connect";
import { create, type DescMethod } from "@bufbuild/protobuf";
import {
  AgentDeviceService,
  GetRenderedDeviceResponseSchema,
  StreamDeviceStatusResponseSchema,
  type StreamDeviceStatusResponse,
  type WatchRenderedDeviceRequest,
  type WatchRenderedDeviceResponse,
} from "../../gen/flightctl/agent/v1beta1/device_service_pb.js";
import type { AgentGate } from "../auth/agent-auth-interceptor.js";
import type { RawStream, StreamSink } from "../platform/grpc-stream.js";
import { forbidden, invalid } from "../platform/errors.js";
import { callerOf, type Caller } from "../platform/identity.js";
import { peerKey, type Peer } from "../platform/peer.js";
import { patchOps } from "../platform/resource/resource-rpc.js";
import type { AgentServiceDeps } from "../app-deps.js";
import { createDeviceAgentService, type DeviceAgentService } from "./device-agent-service.js";
import { decodeStatusReport, reportedStatus, type StatusReport } from "./status-report.js";

/** Streams cannot be checked by the interceptor (it sees no message): the handler does it. */
function ownDevice(caller: Caller, name: string) {
  if (caller.identity.kind !== "device" || caller.identity.deviceName !== name) {
    throw forbidden(`device "${caller.identity.username}" may only act on itself, not on "${name}"`);
  }
}

/**
 * The RPCs whose handler reads the device before anything else and answers NotFound when it is gone (the status
 * report's batched read, device-agent-service.ts `report`; the rendered-device stream's first read, `openWatch`, which
 * reads the render with the device): the agent gate leaves the existence check to them, one statement less per
 * call. The status stream's open reads nothing: its first report is the check.
 */
export const AGENT_METHODS_READING_DEVICE: readonly DescMethod[] = [
  AgentDeviceService.method.replaceDeviceStatus,
  AgentDeviceService.method.patchDeviceStatus,
  AgentDeviceService.method.streamDeviceStatus,
  AgentDeviceService.method.watchRenderedDevice,
];

/**
 * The reports of one status stream (StreamDeviceStatus): each is the caller's own device's and is stored as
 * ReplaceDeviceStatus stores it; the acknowledgement counts the reports stored.
 */
function statusReports(devices: DeviceAgentService, caller: Caller, limit: () => Promise<void>) {
  let stored = 0n;
  return async (req: StatusReport): Promise<StreamDeviceStatusResponse> => {
    // Each report counts against the device's limit, as a ReplaceDeviceStatus call would.
    await limit();
    ownDevice(caller, req.name);
    const status = reportedStatus(req);
    if (!status) throw invalid({ field: "device", message: "is required" });
    await devices.storeStatus(caller, req.name, status);
    return create(StreamDeviceStatusResponseSchema, { stored: ++stored });
  };
}

/** WatchRenderedDevice and StreamDeviceStatus for plain gRPC clients (the agent), served below Connect (platform/grpc-stream.ts). */
export function agentDeviceRawStreams(deps: AgentServiceDeps, gate: AgentGate): RawStream[] {
  const devices = createDeviceAgentService(deps.device);
  const watch = AgentDeviceService.method.watchRenderedDevice;
  const status = AgentDeviceService.method.streamDeviceStatus;
  return [
    {
      method: watch,
      async open(req: WatchRenderedDeviceRequest, sink: StreamSink<WatchRenderedDeviceResponse>, peer) {
        const caller = await gate(watch, peer, req.name);
        return devices.openWatch(caller, req.name, req.knownRenderedVersion, sink);
      },
    },
    {
      method: status,
      // Reports are read from the wire as JSON when they can be (status-report.ts): the handler wants JSON.
      decode: decodeStatusReport,
      async open(peer: Peer, finish: () => void) {
        const caller = await gate(status, peer);
        const report = statusReports(devices, caller, async () => deps.limitReport?.(caller.identity, peer));
        // Ended (OK) when the server drains or after a while without reports (device-agent-service.ts, statusIdleMs).
        const held = devices.holdStatusStream(finish);
        return {
          message(req: StatusReport) {
            return held.report(() => report(req));
          },
          close: held.close,
        };
      },
    },
  ];
}

export const agentDeviceRegistration = {
  service: AgentDeviceService,
  register(router: ConnectRouter, deps: AgentServiceDeps) {
    const devices = createDeviceAgentService(deps.device);
    router.service(AgentDeviceService, {
      async *watchRenderedDevice(req, ctx) {
        const caller = callerOf(ctx);
        ownDevice(caller, req.name);
        yield* devices.watch(caller, req.name, req.knownRenderedVersion, ctx.signal);
      },
      async getRenderedDevice(req, ctx) {
        const wait = req.waitSeconds ?? 120;
        if (wait < 0 || wait > 240) throw invalid({ field: "waitSeconds", message: `must be between 0 and 240, got ${wait}` });
        const device = await devices.getRendered(callerOf(ctx), req.name, req.knownRenderedVersion, wait * 1000, ctx.signal);
        return create(GetRenderedDeviceResponseSchema, device ? { device } : {});
      },
      async replaceDeviceStatus(req, ctx) {
        if (!req.device) throw invalid({ field: "device", message: "is required" });
        return devices.replaceStatus(callerOf(ctx), req.name, req.device);
      },
      patchDeviceStatus: (req, ctx) => devices.patchStatus(callerOf(ctx), req.name, patchOps(req.patch)),
      async *streamDeviceStatus(reqs, ctx) {
        const caller = callerOf(ctx);
        const limit = async () => deps.limitReport?.(caller.identity, ctx.values.get(peerKey));
        const report = statusReports(devices, caller, limit);
        // A draining server ends the stream (OK) once the report in hand is stored, as on the raw path.
        let draining = false;
        let drained = () => {};
        const drain = new Promise<undefined>((resolve) => (drained = () => ((draining = true), resolve(undefined))));
        const stopDrain = devices.whenDraining(() => drained());
        try {
          const input = reqs[Symbol.asyncIterator]();
          while (!draining) {
            const next = await Promise.race([input.next(), drain]);
            if (!next || next.done) return;
            yield await report(next.value);
          }
        } finally {
          stopDrain();
        }
      },
    });
  },
};
