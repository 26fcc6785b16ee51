// Field errors travel as typed details: an invalid create over a real server (HTTPS, Connect and gRPC protocols)
// fails with InvalidArgument carrying a google.rpc.BadRequest detail with one field violation per problem, each
// naming its field path, while the message stays the human-readable "field: message; ...".
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { Code, ConnectError, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { fromJson } from "@bufbuild/protobuf";
import { assertNoOpenHandles } from "./helpers/leaks.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { DeviceSchema } from "../gen/flightctl/v1beta1/device_pb.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { FleetSchema } from "../gen/flightctl/v1beta1/fleet_pb.js";
import { FleetService } from "../gen/flightctl/v1beta1/fleet_service_pb.js";
import { BadRequestSchema } from "../gen/third_party/google/rpc/error_details_pb.js";
import { fieldViolations } from "../lib/field-violations.js";

let t: TestApi;
let transports: [string, Transport][];

before(async () => {
  t = await startTestApi();
  const token = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  const bearer: Interceptor = (next) => (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
  const base = `https://localhost:${t.api.port}`;
  const nodeOptions = { ca: readFileSync(t.api.caPath) };
  transports = [
    ["connect", createConnectTransport({ baseUrl: base, httpVersion: "1.1", nodeOptions, interceptors: [bearer] })],
    ["grpc", createGrpcTransport({ baseUrl: base, nodeOptions, interceptors: [bearer] })],
  ];
});
after(async () => {
  await t.close();
  await assertNoOpenHandles();
});

/** The ConnectError `p` fails with (which must be InvalidArgument). */
async function invalidArgument(p: Promise<unknown>): Promise<ConnectError> {
  const e = await p.then(
    () => assert.fail("the call succeeded"),
    (err: unknown) => err,
  );
  assert.ok(e instanceof ConnectError, `expected a ConnectError, got ${e}`);
  assert.equal(Code[e.code], Code[Code.InvalidArgument], e.message);
  return e;
}

test("a Device with a bad name: a BadRequest detail names metadata.name", async () => {
  for (const [protocol, transport] of transports) {
    const devices = createClient(DeviceService, transport);
    const device = fromJson(DeviceSchema, { apiVersion: "flightctl.io/v1beta1", kind: "Device", metadata: { name: "Not_A_Name!" } });
    const e = await invalidArgument(devices.createDevice({ device }));
    const details = e.findDetails(BadRequestSchema);
    assert.equal(details.length, 1, protocol);
    const fields = details[0].fieldViolations.map((v) => v.field);
    assert.deepEqual(fields, ["metadata.name"], protocol);
    assert.ok(details[0].fieldViolations[0].description, protocol);
    // The message is still for people, and it says the same as the details.
    assert.ok(e.rawMessage.startsWith("metadata.name: "), `${protocol}: ${e.rawMessage}`);
    assert.deepEqual(
      fieldViolations(e).map((v) => `${v.field}: ${v.message}`),
      [e.rawMessage],
      protocol,
    );
  }
});

test("a Fleet with a bad selector: one field violation per problem, each with its path under spec.selector", async () => {
  for (const [protocol, transport] of transports) {
    const fleets = createClient(FleetService, transport);
    const fleet = fromJson(FleetSchema, {
      apiVersion: "flightctl.io/v1beta1",
      kind: "Fleet",
      metadata: { name: `bad-selector-${protocol}` },
      spec: {
        selector: { matchLabels: { "bad key!": "x" }, matchExpressions: [{ key: "site", operator: "Near", values: ["a"] }] },
        template: { spec: {} },
      },
    });
    const e = await invalidArgument(fleets.createFleet({ fleet }));
    const violations = fieldViolations(e);
    assert.ok(violations.length >= 2, `${protocol}: ${JSON.stringify(violations)}`);
    for (const v of violations) assert.match(v.field, /^spec\.selector[.[]/, `${protocol}: ${JSON.stringify(v)}`);
    assert.equal(e.rawMessage, violations.map((v) => `${v.field}: ${v.message}`).join("; "), protocol);
  }
});
