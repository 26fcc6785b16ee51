// The fuzz suite's own parts, without a server: the oracle judges answers as the issue asks, the raw answers of each
// protocol are read right, the hand-built bodies are what they claim (deep nesting decodes up to the limit, invalid
// UTF-8 is invalid), and a seed and path replay the same case.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { fromBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { PatchDeviceRequestSchema, DeviceService } from "../../gen/flightctl/v1beta1/device_service_pb.js";
import { caseArb, describeCase, renderRaw, type FuzzCase, type Target } from "./inputs.js";
import { findPaths, isJsonish } from "./messages.js";
import { answeredAs, envelope, judgeRaw, PROTOCOLS, type Protocol } from "./protocols.js";
import { messageShape, verdict } from "./oracle.js";

const proto = (name: string) => PROTOCOLS.find((p) => p.name === name) as Protocol;
const targets: Target[] = DeviceService.methods.map((method) => ({
  endpoint: "user",
  credential: "admin",
  service: DeviceService,
  method,
  knownNames: ["fuzz-device"],
}));

test("the oracle refuses Internal, Unknown, DataLoss, gRPC 5xx and missing answers; accepts Connect's own 5xx codes", () => {
  assert.match(verdict({ code: Code.Internal, message: "", ms: 1 }, proto("grpc")) ?? "", /Internal/);
  assert.match(verdict({ code: Code.Unknown, message: "", ms: 1 }, proto("connect-proto")) ?? "", /Unknown/);
  assert.match(verdict({ code: Code.DataLoss, message: "", ms: 1 }, proto("grpc")) ?? "", /DataLoss/);
  assert.match(verdict({ code: "ok", http: 502, message: "", ms: 1 }, proto("grpc")) ?? "", /HTTP 502/);
  assert.match(verdict({ code: Code.DeadlineExceeded, noAnswer: "timeout", message: "", ms: 1 }, proto("grpc")) ?? "", /bound/);
  assert.equal(verdict({ code: Code.Unavailable, http: 503, message: "", ms: 1 }, proto("connect-json")), undefined);
  assert.equal(verdict({ code: Code.InvalidArgument, http: 400, message: "", ms: 1 }, proto("connect-json")), undefined);
  assert.equal(verdict({ code: "http-4xx", http: 415, message: "", ms: 1 }, proto("grpc-web-json")), undefined);
  assert.equal(messageShape('name "a\u0000b" at 12'), 'name "…" at N');
});

test("raw answers are read per protocol: Connect error JSON, gRPC trailers, gRPC-Web trailer frames", () => {
  const r = (o: object) => ({ status: 200, headers: {}, body: Buffer.alloc(0), trailers: {}, ...o });
  const connect = judgeRaw(
    proto("connect-json"),
    true,
    r({ status: 400, body: Buffer.from('{"code":"invalid_argument","message":"m"}') }),
    1,
  );
  assert.deepEqual([connect.code, connect.http, connect.message], [Code.InvalidArgument, 400, "m"]);
  assert.equal(judgeRaw(proto("connect-json"), true, r({ status: 500, body: Buffer.from("oops") }), 1).code, Code.Unknown);
  assert.equal(judgeRaw(proto("grpc"), true, r({ trailers: { "grpc-status": "13", "grpc-message": "x%20y" } }), 1).code, Code.Internal);
  assert.equal(judgeRaw(proto("grpc"), true, r({ trailers: { "grpc-status": "13", "grpc-message": "x%20y" } }), 1).message, "x y");
  const trailer = envelope(Buffer.from("grpc-status: 3\r\ngrpc-message: bad\r\n"), 0x80);
  const web = judgeRaw(proto("grpc-web-proto"), true, r({ body: Buffer.from(trailer) }), 1);
  assert.deepEqual([web.code, web.message], [Code.InvalidArgument, "bad"]);
  assert.equal(judgeRaw(proto("grpc"), false, r({ cut: "stream-open" }), 1).code, "ok");
  assert.equal(judgeRaw(proto("grpc"), true, r({ status: 0, error: "reset" }), 1).noAnswer, "transport");
  // A Connect case sent with a gRPC content type is answered, and so judged, in gRPC framing.
  const asGrpc = answeredAs(proto("connect-proto"), "application/grpc+nope");
  assert.equal(judgeRaw(asGrpc, false, r({ trailers: { "grpc-status": "3" } }), 1).code, Code.InvalidArgument);
  assert.equal(answeredAs(proto("connect-proto"), "text/plain").wire, "connect");
  assert.equal(answeredAs(proto("grpc"), "application/grpc-web+proto").wire, "grpc-web");
});

test("deep-nesting bodies are well-formed protobuf: depth 30 decodes, past the decoder's limit its recursion check refuses", () => {
  const method = DeviceService.method.patchDevice;
  const path = findPaths(method.input, isJsonish)[0];
  const body = (depth: number) => {
    const c: FuzzCase = {
      target: targets[0],
      protocol: proto("connect-proto"),
      auth: true,
      input: { kind: "raw", label: "deep-nesting", path, depth, note: "" },
    };
    c.target = { ...c.target, method };
    return renderRaw(c)!.body;
  };
  const msg = fromBinary(PatchDeviceRequestSchema, body(30));
  assert.equal(msg.patch.length, 1);
  assert.throws(() => fromBinary(PatchDeviceRequestSchema, body(60)), /recursion/);
});

test("invalid-UTF-8 bodies are invalid UTF-8, in binary and in JSON", () => {
  const arb = caseArb(targets).filter((c) => c.input.label === "invalid-utf8");
  for (const c of fc.sample(arb, { numRuns: 20, seed: 1 })) {
    const body = renderRaw(c)?.body;
    if (!body) continue; // a message JSON cannot carry (e.g. a Timestamp out of range)
    assert.throws(() => new TextDecoder("utf-8", { fatal: true }).decode(body), TypeError, describeCase(c));
  }
});

test("a seed and a path replay the same case", async () => {
  const seen: string[] = [];
  await fc.check(
    fc.property(caseArb(targets), (c) => (seen.push(describeCase(c)), true)),
    { seed: 99, numRuns: 30 },
  );
  let replayed = "";
  await fc.check(
    fc.property(caseArb(targets), (c) => ((replayed = describeCase(c)), true)),
    { seed: 99, path: "17", numRuns: 1 },
  );
  assert.equal(replayed, seen[17]);
});
