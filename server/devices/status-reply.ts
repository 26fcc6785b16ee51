// The answer to a status report: the device with the status as stored (the reported one with the service's fields
// computed). Reports are the agent endpoint's most frequent call; converting the whole stored status from JSON back
// to a message for every answer (systemInfo, applications, resources…) showed in its profile. The reported message
// already holds all but the few top-level fields the service computed, so only those are converted.
import { create, fromJson, type JsonObject } from "@bufbuild/protobuf";
import {
  DeviceSchema,
  DeviceStatusSchema,
  type Device,
  type DeviceStatus,
  type DeviceStatusJson,
} from "../../gen/flightctl/v1beta1/device_pb.js";
import { API_VERSION } from "../platform/resource/resource-service.js";
import { jsonEqual } from "../platform/json-equal.js";

/** What a report stored: the device's labels, annotations and status (JSON). */
export interface StoredReport {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  status: DeviceStatusJson | null;
}

/** The device as JSON says it: the general way (a status patch has no message to start from). */
export function deviceOf(name: string, r: StoredReport): Device {
  return fromJson(
    DeviceSchema,
    { apiVersion: API_VERSION, kind: "Device", metadata: { name, labels: r.labels, annotations: r.annotations }, status: r.status ?? {} },
    { ignoreUnknownFields: true },
  );
}

/**
 * The same device, from `reported` (the request's status message, taken over: it is changed in place) and
 * `reportedJson` (its JSON, from which `r.status` was computed): top-level status fields whose JSON is unchanged keep
 * their decoded value; the others are converted from `r.status`.
 */
export function deviceFromReport(name: string, reported: DeviceStatus, reportedJson: DeviceStatusJson, r: StoredReport): Device {
  const stored = (r.status ?? {}) as JsonObject;
  const sent = reportedJson as JsonObject;
  const changed: JsonObject = {};
  const fields = [];
  for (const f of DeviceStatusSchema.fields) {
    const a = stored[f.jsonName];
    const b = sent[f.jsonName];
    if (jsonEqual(a, b)) continue;
    // A oneof member lives under its oneof's name, not its own: the general way then (DeviceStatus has none today).
    if (f.oneof) return deviceOf(name, r);
    fields.push(f);
    if (a !== undefined) changed[f.jsonName] = a;
  }
  if (fields.length) {
    const part = fromJson(DeviceStatusSchema, changed, { ignoreUnknownFields: true }) as unknown as Record<string, unknown>;
    const target = reported as unknown as Record<string, unknown>;
    for (const f of fields) target[f.localName] = part[f.localName];
  }
  return create(DeviceSchema, {
    apiVersion: API_VERSION,
    kind: "Device",
    metadata: { name, labels: r.labels, annotations: r.annotations },
    status: reported,
  });
}
