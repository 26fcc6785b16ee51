// Every resource and every data point (span) of an export gets the sending device's identity as attributes, replacing
// whatever the payload claimed: a device can neither pass for another device nor write into another organization's
// series. The stamped request is what every exporter sees (Prometheus labels, OTLP forwarding).
import { create } from "@bufbuild/protobuf";
import type { ExportMetricsServiceRequest } from "../../gen/third_party/opentelemetry/proto/collector/metrics/v1/metrics_service_pb.js";
import type { ExportTraceServiceRequest } from "../../gen/third_party/opentelemetry/proto/collector/trace/v1/trace_service_pb.js";
import { KeyValueSchema, type KeyValue } from "../../gen/third_party/opentelemetry/proto/common/v1/common_pb.js";
import { ResourceSchema, type Resource } from "../../gen/third_party/opentelemetry/proto/resource/v1/resource_pb.js";
import type { TelemetryDevice } from "./device-identity.js";

/** The attribute (and Prometheus label) names the gateway owns. */
export const DEVICE_ID = "device_id";
export const ORG_ID = "org_id";
export const FLEET = "fleet";
const OWNED = new Set([DEVICE_ID, ORG_ID, FLEET]);

const str = (key: string, value: string): KeyValue => create(KeyValueSchema, { key, value: { value: { case: "stringValue", value } } });

/** The identity attributes of `device` (no fleet attribute when no fleet owns it). */
export function identityAttributes(device: TelemetryDevice): KeyValue[] {
  const out = [str(DEVICE_ID, device.deviceName), str(ORG_ID, device.orgId)];
  if (device.fleet) out.push(str(FLEET, device.fleet));
  return out;
}

/** `attrs` without what the payload said about identity, plus the device's identity. */
function restamp(attrs: KeyValue[], identity: KeyValue[]): KeyValue[] {
  return [...attrs.filter((a) => !OWNED.has(a.key)), ...identity];
}

/** `resource` (a new one when the payload had none) with the identity attributes. */
function stampResource(resource: Resource | undefined, identity: KeyValue[]): Resource {
  const r = resource ?? create(ResourceSchema);
  r.attributes = restamp(r.attributes, identity);
  return r;
}

/** Stamps `req` in place; returns how many data points it carries. */
export function stampMetrics(req: ExportMetricsServiceRequest, device: TelemetryDevice): number {
  const identity = identityAttributes(device);
  let points = 0;
  for (const rm of req.resourceMetrics) {
    rm.resource = stampResource(rm.resource, identity);
    for (const sm of rm.scopeMetrics) {
      for (const m of sm.metrics) {
        if (!m.data.case) continue;
        for (const p of m.data.value.dataPoints) {
          p.attributes = restamp(p.attributes, identity);
          points++;
        }
      }
    }
  }
  return points;
}

/** Stamps `req` in place; returns how many spans it carries. */
export function stampTraces(req: ExportTraceServiceRequest, device: TelemetryDevice): number {
  const identity = identityAttributes(device);
  let spans = 0;
  for (const rs of req.resourceSpans) {
    rs.resource = stampResource(rs.resource, identity);
    for (const ss of rs.scopeSpans) {
      for (const span of ss.spans) {
        span.attributes = restamp(span.attributes, identity);
        spans++;
      }
    }
  }
  return spans;
}
