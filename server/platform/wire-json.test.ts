// wire-json.ts must give exactly what protobuf-es gives (toJson of fromBinary) whenever it answers, and decline what
// the general path must judge. Checked on random messages of the status report's types, built from their descriptors.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  create,
  type DescField,
  type DescMessage,
  fromBinary,
  fromJson,
  type JsonObject,
  ScalarType,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import { DeviceSchema, DeviceStatusSchema } from "../../gen/flightctl/v1beta1/device_pb.js";
import { StreamDeviceStatusRequestSchema } from "../../gen/flightctl/agent/v1beta1/device_service_pb.js";
import { DEFAULT_INPUT_LIMITS } from "./validation/input-limits.js";
import { wireToJson } from "./wire-json.js";

/** A small seeded generator (mulberry32): the same messages on every run. */
function random(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STRINGS = ["", "Online", "a", "ünïcödé ✓", "😀 emoji", 'quote " and \\ backslash', "x".repeat(300), "\n\t"];

function generator(rnd: () => number) {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)];
  function scalar(type: ScalarType): unknown {
    switch (type) {
      case ScalarType.STRING:
        return pick(STRINGS);
      case ScalarType.BOOL:
        return rnd() < 0.5;
      case ScalarType.INT32:
      case ScalarType.SINT32:
      case ScalarType.SFIXED32:
        return pick([0, 1, -1, 2147483647, -2147483648, 300]);
      case ScalarType.UINT32:
      case ScalarType.FIXED32:
        return pick([0, 1, 4294967295, 300]);
      case ScalarType.DOUBLE:
        return pick([0, -0, 1.5, -2.25e300, Number.NaN, Number.POSITIVE_INFINITY, 5e-324]);
      case ScalarType.FLOAT:
        return pick([0, 1.5, -3.25, Number.NEGATIVE_INFINITY]);
      case ScalarType.BYTES:
        return new Uint8Array([1, 2, 3]);
      default:
        return pick([0n, 1n, -1n, 9007199254740993n]);
    }
  }
  function value(f: DescField, depth: number): unknown {
    switch (f.fieldKind) {
      case "scalar":
        return scalar(f.scalar);
      case "enum":
        return pick(f.enum.values).number;
      case "message":
        return message(f.message, depth + 1);
      case "list": {
        const n = Math.floor(rnd() * 3);
        return Array.from({ length: n }, () =>
          f.listKind === "message" ? message(f.message, depth + 1) : f.listKind === "enum" ? pick(f.enum.values).number : scalar(f.scalar),
        );
      }
      case "map": {
        const out: Record<string, unknown> = {};
        for (let i = Math.floor(rnd() * 3); i > 0; i--) {
          out[pick(["k", "", "key ✓", "x"])] =
            f.mapKind === "message" ? message(f.message, depth + 1) : f.mapKind === "enum" ? pick(f.enum.values).number : scalar(f.scalar);
        }
        return out;
      }
    }
  }
  function message(desc: DescMessage, depth: number): unknown {
    if (desc.typeName === "google.protobuf.Timestamp") {
      return create(desc, { seconds: pick([0n, 1_700_000_000n, 253402300799n]), nanos: pick([0, 1_000_000, 123_456_789]) } as never);
    }
    const init: Record<string, unknown> = {};
    if (depth > 6) return create(desc);
    for (const f of desc.fields) {
      if (rnd() < 0.45) continue;
      if (f.oneof) {
        if (rnd() < 0.8) continue;
        init[f.oneof.localName] = { case: f.localName, value: value(f, depth) };
      } else init[f.localName] = value(f, depth);
    }
    try {
      return create(desc, init as never);
    } catch {
      return create(desc);
    }
  }
  return message;
}

/** Both readings of `bytes`; the fast one undefined when it declined. */
function both(desc: DescMessage, bytes: Uint8Array) {
  const buf = Buffer.from(bytes);
  let expected: unknown;
  try {
    expected = toJson(desc, fromBinary(desc, buf));
  } catch {
    expected = "general path throws";
  }
  return { expected, got: wireToJson(desc, buf, DEFAULT_INPUT_LIMITS) };
}

test("random statuses and status reports: the same JSON as protobuf-es whenever it answers, and most are answered", () => {
  const rnd = random(23);
  const message = generator(rnd);
  let answered = 0;
  const N = 600;
  for (let i = 0; i < N; i++) {
    const desc = i % 2 ? DeviceStatusSchema : StreamDeviceStatusRequestSchema;
    const bytes = toBinary(desc, message(desc, 1) as never);
    const { expected, got } = both(desc, bytes);
    if (got === undefined) continue;
    answered++;
    assert.deepEqual(got, expected, `message ${i}`);
  }
  assert.ok(answered > N / 4, `${answered} of ${N} answered`);
});

test("a message sent in two parts (fields again, lists appended, messages merged, map keys replaced) reads as protobuf-es merges it", () => {
  const rnd = random(7);
  const message = generator(rnd);
  let answered = 0;
  for (let i = 0; i < 300; i++) {
    const a = toBinary(DeviceStatusSchema, message(DeviceStatusSchema, 1) as never);
    const b = toBinary(DeviceStatusSchema, message(DeviceStatusSchema, 1) as never);
    const joined = new Uint8Array(a.length + b.length);
    joined.set(a);
    joined.set(b, a.length);
    const { expected, got } = both(DeviceStatusSchema, joined);
    if (got === undefined) continue;
    answered++;
    assert.deepEqual(got, expected, `pair ${i}`);
  }
  assert.ok(answered > 50, `${answered} answered`);
});

test("the agent's report is answered; what the input limits may refuse, malformed bytes and unhandled kinds are declined", () => {
  const report = (status: JsonObject) =>
    toBinary(StreamDeviceStatusRequestSchema, {
      $typeName: "flightctl.agent.v1beta1.StreamDeviceStatusRequest",
      name: "dev",
      device: fromJson(DeviceSchema, { apiVersion: "flightctl.io/v1beta1", kind: "Device", metadata: { name: "dev" }, status }),
    });
  const agent = {
    systemInfo: { architecture: "amd64", operatingSystem: "linux", bootID: "b", agentVersion: "v1", customInfo: { seq: "1" } },
    conditions: [{ type: "Updating", status: "False", reason: "Updated", message: "", lastTransitionTime: "2026-12-07T20:00:00Z" }],
    config: { renderedVersion: "3" },
    applicationsSummary: { status: "Healthy", info: "" },
    resources: { cpu: "Healthy", memory: "Warning", disk: "Healthy" },
    summary: { status: "Online" },
  };
  const ok = both(StreamDeviceStatusRequestSchema, report(agent));
  assert.ok(ok.got, "the agent's report is on the fast path");
  assert.deepEqual(ok.got, ok.expected);

  const limits = { ...DEFAULT_INPUT_LIMITS, maxStringLength: 20, maxItems: 2, maxDepth: 4 };
  const declined = (bytes: Uint8Array, l = DEFAULT_INPUT_LIMITS) => wireToJson(StreamDeviceStatusRequestSchema, Buffer.from(bytes), l);
  assert.equal(declined(report({ summary: { status: "Online", info: "nul\u0000here" } })), undefined, "NUL");
  assert.equal(declined(report({ summary: { status: "Online", info: "x".repeat(21) } }), limits), undefined, "long string");
  assert.ok(declined(report({ summary: { status: "Online", info: "x".repeat(20) } }), limits), "a string at the limit");
  const conditions = [
    { type: "A", status: "True" },
    { type: "B", status: "True" },
    { type: "C", status: "True" },
  ];
  assert.equal(declined(report({ conditions }), limits), undefined, "too many items");
  assert.equal(declined(report({ systemInfo: { customInfo: { a: "1", b: "2", c: "3" } } }), limits), undefined, "too many entries");
  assert.equal(declined(report({ systemInfo: { customInfo: { a: "1" } } }), { ...limits, maxDepth: 3 }), undefined, "too deep");
  const good = report(agent);
  assert.equal(declined(good.subarray(0, good.length - 1)), undefined, "truncated");
  const badUtf8 = Buffer.concat([Buffer.from([0x0a, 0x02, 0xc3, 0x28])]);
  assert.equal(declined(badUtf8), undefined, "invalid UTF-8");
  assert.equal(declined(Buffer.from([0x03])), undefined, "a group tag");
});
