import assert from "node:assert/strict";
import { test } from "node:test";
import { fromJson, toBinary, toJson } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { DeviceSchema, DeviceStatusSchema } from "../../gen/flightctl/v1beta1/device_pb.js";
import { StreamDeviceStatusRequestSchema } from "../../gen/flightctl/agent/v1beta1/device_service_pb.js";
import { DEFAULT_ENDPOINT_LIMITS } from "../platform/endpoint-limits.js";
import { decodeStatusReport, reportedStatus } from "./status-report.js";

const payload = (info: string, withDevice = true) =>
  Buffer.from(
    toBinary(StreamDeviceStatusRequestSchema, {
      $typeName: "flightctl.agent.v1beta1.StreamDeviceStatusRequest",
      name: "dev",
      device: withDevice
        ? fromJson(DeviceSchema, {
            metadata: { name: "dev" },
            status: { summary: { status: "Online", info }, systemInfo: { customInfo: { a: "1" } } },
          })
        : undefined,
    }),
  );

test("a status stream's report is read as JSON, the same as the decoded message's; a device without status is {}, none is none", () => {
  const r = decodeStatusReport(0, payload("fine"), DEFAULT_ENDPOINT_LIMITS);
  assert.equal(r.name, "dev");
  assert.equal(r.device, undefined, "read on the fast path");
  const message = fromJson(DeviceSchema, {
    status: { summary: { status: "Online", info: "fine" }, systemInfo: { customInfo: { a: "1" } } },
  });
  assert.deepEqual(reportedStatus(r), toJson(DeviceStatusSchema, message.status!));
  const empty = Buffer.from(
    toBinary(StreamDeviceStatusRequestSchema, {
      $typeName: "flightctl.agent.v1beta1.StreamDeviceStatusRequest",
      name: "dev",
      device: fromJson(DeviceSchema, {}),
    }),
  );
  assert.deepEqual(reportedStatus(decodeStatusReport(0, empty, DEFAULT_ENDPOINT_LIMITS)), {});
  assert.equal(reportedStatus(decodeStatusReport(0, payload("", false), DEFAULT_ENDPOINT_LIMITS)), undefined);
});

test("a report the fast reading declines is decoded and checked the general way: its errors name the field", () => {
  assert.throws(
    () => decodeStatusReport(0, payload("nul\u0000"), DEFAULT_ENDPOINT_LIMITS),
    /device\.status\.summary\.info: must not contain NUL/,
  );
  const small = { ...DEFAULT_ENDPOINT_LIMITS, input: { ...DEFAULT_ENDPOINT_LIMITS.input, maxStringLength: 3 } };
  assert.throws(() => decodeStatusReport(0, payload("long"), small), /device\.status\.summary\.info: must be at most 3 characters/);
  assert.throws(
    () => decodeStatusReport(1, payload("fine"), DEFAULT_ENDPOINT_LIMITS),
    (e) => ConnectError.from(e).code === Code.InvalidArgument,
  );
  // Declined (the general path reads it) yet fine: a device whose spec holds a google.protobuf.Struct (helm values).
  const general = Buffer.from(
    toBinary(StreamDeviceStatusRequestSchema, {
      $typeName: "flightctl.agent.v1beta1.StreamDeviceStatusRequest",
      name: "dev",
      device: fromJson(DeviceSchema, {
        metadata: { name: "dev" },
        spec: { applications: [{ name: "a", appType: "helm", values: { k: 1 } }] },
        status: { summary: { status: "Online" } },
      }),
    }),
  );
  const r = decodeStatusReport(0, general, DEFAULT_ENDPOINT_LIMITS);
  assert.ok(r.device, "read by the general path");
  assert.deepEqual(reportedStatus(r), { summary: { status: "Online" } });
});
