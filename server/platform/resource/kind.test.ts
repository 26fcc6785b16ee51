// defineKind checks a kind's handlers against its generated service: the lines marked @ts-expect-error must not
// compile (tsc --noEmit verifies it); a handler for an RPC the service lacks is refused when the kind is served.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DeviceListSchema, DeviceSchema } from "../../../gen/flightctl/v1beta1/device_pb.js";
import { DeviceService } from "../../../gen/flightctl/v1beta1/device_service_pb.js";
import { createConnectRouter } from "@connectrpc/connect";
import { devices } from "../../../db/schema/resources.js";
import { buildKind, defineKind, type KindPlatformDeps } from "./kind.js";

const device = {
  kind: "Device",
  service: DeviceService,
  schema: DeviceSchema,
  listSchema: DeviceListSchema,
  table: devices,
  validate: () => [],
} as const;

test("a kind's handlers are checked against its generated service", () => {
  const served = defineKind({ ...device, handlers: ({ standard }) => standard });
  // @ts-expect-error: GetDevice answers a Device
  const wrongResponse = defineKind({ ...device, handlers: () => ({ getDevice: async () => ({ foo: 1 }) }) });
  // @ts-expect-error: DeleteDevice's request has no field "device"
  const wrongRequest = defineKind({ ...device, handlers: () => ({ deleteDevice: async (_req: { device: string }) => ({}) }) });
  for (const k of [served, wrongResponse, wrongRequest]) assert.equal(k.kind, "Device");
});

test("a handler for an RPC the service does not declare is refused when the kind is served", () => {
  const misspelt = defineKind({ ...device, handlers: ({ standard }) => ({ ...standard, decomissionDevice: async () => ({}) }) });
  const db = {} as KindPlatformDeps["db"]; // serve() builds handlers only: the database is never touched
  const kind = buildKind(misspelt, { db });
  assert.throws(() => kind.serve(createConnectRouter()), /DeviceService has no RPC decomissionDevice/);
});
