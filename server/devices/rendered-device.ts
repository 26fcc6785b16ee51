// The rendered device, one shape for both readers: the agent (its stream and long-poll) and a user's
// GetRenderedDevice (flightctl's GET /devices/{name}/rendered), so what a user reads is exactly what the agent gets.
import { create, fromJson } from "@bufbuild/protobuf";
import { DeviceSchema, type Device } from "../../gen/flightctl/v1beta1/device_pb.js";
import { GetRenderedDeviceResponseSchema, type GetRenderedDeviceResponse } from "../../gen/flightctl/v1beta1/device_service_pb.js";
import { invalid, precondition } from "../platform/errors.js";
import { API_VERSION } from "../platform/resource/resource-service.js";
import type { Db } from "../platform/db.js";
import { createRenderStore, type RenderRow } from "./render-store.js";
import { quote } from "../../lib/quote.js";

export const ANNOTATION_RENDERED_VERSION = "device-controller/renderedVersion";

/** A known rendered version as sent by a reader: "" or "0" mean none; anything else must be a number. */
export function knownVersion(v: string): number {
  if (v === "" || v === "0") return 0;
  if (!/^\d+$/.test(v)) throw invalid({ field: "knownRenderedVersion", message: `must be a rendered version number, got ${quote(v)}` });
  return Number(v);
}

/** The rendered device as flightctl's agent receives it. */
export function renderedDevice(name: string, r: RenderRow): Device {
  return fromJson(
    DeviceSchema,
    {
      apiVersion: API_VERSION,
      kind: "Device",
      metadata: { name, annotations: { [ANNOTATION_RENDERED_VERSION]: String(r.renderedVersion) } },
      spec: r.spec,
    },
    { ignoreUnknownFields: true },
  );
}

/** The user-side read (the caller's access to the device is checked before). */
export function createRenderedReads(db: Db) {
  const renders = createRenderStore(db);
  return {
    /** The rendered device, or an empty answer when `known` is its version; FailedPrecondition before the first render. */
    async get(orgId: string, name: string, known: string): Promise<GetRenderedDeviceResponse> {
      const since = knownVersion(known);
      const r = await renders.get(orgId, name);
      if (!r) throw precondition(`device ${quote(name)} has no rendered version yet; its first render is queued after it is created`);
      return create(GetRenderedDeviceResponseSchema, r.renderedVersion > since ? { device: renderedDevice(name, r) } : {});
    },
  };
}
