// A status stream's report as its handler takes it: the device's name and its status, either as JSON read straight
// from the wire (the raw gRPC path, platform/wire-json.ts: the common report) or as the decoded request message
// (Connect, and whatever the fast reading declines).
import { create, type JsonObject, toJson } from "@bufbuild/protobuf";
import { DeviceStatusSchema, type Device, type DeviceStatusJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import { StreamDeviceStatusRequestSchema } from "../../gen/flightctl/agent/v1beta1/device_service_pb.js";
import type { EndpointLimits } from "../platform/endpoint-limits.js";
import { decodeRequest } from "../platform/grpc-stream.js";
import { wireToJson } from "../platform/wire-json.js";

export interface StatusReport {
  name: string;
  /** The request's device message (the general reading); its status is converted when stored. */
  device?: Device;
  /** The request's device status as JSON (the fast reading), {} for a device without one. */
  status?: DeviceStatusJson;
}

/** The reported status as JSON; undefined when the request carries no device. */
export function reportedStatus(r: StatusReport): DeviceStatusJson | undefined {
  if (r.status) return r.status;
  return r.device ? (toJson(DeviceStatusSchema, r.device.status ?? create(DeviceStatusSchema)) as DeviceStatusJson) : undefined;
}

/** A raw stream message's payload as a report: read as JSON when it can be, else decoded (and checked) the general way. */
export function decodeStatusReport(flags: number, payload: Buffer, limits: EndpointLimits): StatusReport {
  const json = flags === 0 ? wireToJson(StreamDeviceStatusRequestSchema, payload, limits.input) : undefined;
  if (!json) return decodeRequest(StreamDeviceStatusRequestSchema, flags, payload, limits);
  const device = json.device as JsonObject | undefined;
  return { name: (json.name as string | undefined) ?? "", status: device && ((device.status ?? {}) as DeviceStatusJson) };
}
