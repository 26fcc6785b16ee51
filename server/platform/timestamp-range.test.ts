import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { DeviceSchema } from "../../gen/flightctl/v1beta1/device_pb.js";
import { badTimestampPath } from "./timestamp-range.js";

test("the first Timestamp proto JSON cannot carry is named by its JSON path; valid ones pass", () => {
  const device = (seconds: bigint, nanos = 0) =>
    create(DeviceSchema, {
      metadata: { name: "d", creationTimestamp: { seconds: 0n } },
      status: { conditions: [{ type: "Ready" }, { type: "Updating", lastTransitionTime: { seconds, nanos } }] },
    });
  assert.equal(badTimestampPath(DeviceSchema, device(1_700_000_000n)), undefined);
  assert.equal(badTimestampPath(DeviceSchema, device(253402300800n)), "status.conditions[1].lastTransitionTime");
  assert.equal(badTimestampPath(DeviceSchema, device(0n, -1)), "status.conditions[1].lastTransitionTime");
  assert.equal(badTimestampPath(DeviceSchema, device(-62135596801n)), "status.conditions[1].lastTransitionTime");
});
