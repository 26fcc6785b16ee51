// Heartbeats of idle rendered-device streams, one tick at a time: the wheel wakes each joined stream once per period
// with its tick's time; a tick's streams share one heartbeat message (and one lastSeen time), and on the raw gRPC path
// one encoding of it; every open stream still gets its heartbeat, a closed stream gets nothing more, and a message sent
// after the shared one is encoded afresh; a stream with nothing newer to send hears one heartbeat at once.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import pino from "pino";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import {
  AgentDeviceService,
  WatchRenderedDeviceRequestSchema,
  WatchRenderedDeviceResponseSchema,
  type WatchRenderedDeviceRequest,
  type WatchRenderedDeviceResponse,
} from "../gen/flightctl/agent/v1beta1/device_service_pb.js";
import { startTestApp, type TestApp } from "./helpers/app.js";
import { createHeartbeatWheel } from "../server/devices/heartbeat-wheel.js";
import { createDeviceAgentService } from "../server/devices/device-agent-service.js";
import { createLastSeenRecorder } from "../server/devices/last-seen.js";
import type { RenderNotifier } from "../server/devices/render-notifier.js";
import { createDb } from "../server/platform/db.js";
import { DEFAULT_ORG_ID, type Caller } from "../server/platform/identity.js";
import { serveRaw, type StreamSink } from "../server/platform/grpc-stream.js";
import { DEFAULT_ENDPOINT_LIMITS } from "../server/platform/endpoint-limits.js";
import { toConnectError } from "../server/platform/errors.js";

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(async () => {
  await t.close();
  await assertNoOpenHandles();
});

/** The devices the streams below are for (a stream's first read is its device's existence check). */
async function devices(...names: string[]) {
  await t.db.pool.query(
    `insert into devices (org_id, name, labels, spec, status) select $1, n, '{}'::jsonb, '{}'::jsonb, '{}'::jsonb from unnest($2::text[]) n
     on conflict do nothing`,
    [DEFAULT_ORG_ID, names],
  );
}

/**
 * The agent service on its own heartbeat wheel of period `heartbeatMs`, with no render notifications; `touched` lists
 * the devices it marks seen, in order (the recorder's flush period is longer than any test).
 */
function agentService(heartbeatMs: number) {
  const wheel = createHeartbeatWheel(heartbeatMs, 1);
  const lastSeen = createLastSeenRecorder(createDb(t.db.pool), pino({ level: "silent" }), { flushMs: 600_000 });
  const touched: string[] = [];
  const touch = lastSeen.touch;
  lastSeen.touch = (orgId, name, at) => (touched.push(name), touch(orgId, name, at));
  const notifier = { subscribe: () => () => {} } as unknown as RenderNotifier;
  const svc = createDeviceAgentService({ db: createDb(t.db.pool), lastSeen, notifier, wheel, heartbeatMs });
  return { wheel, lastSeen, touched, svc };
}

/** A gRPC request message (length-prefixed) asking for device "d"'s rendered spec, as a raw HTTP/2 client sends it. */
function watchRequestFrame(): Buffer {
  const payload = toBinary(WatchRenderedDeviceRequestSchema, create(WatchRenderedDeviceRequestSchema, { name: "d" }));
  const body = Buffer.alloc(5 + payload.length);
  body.writeUInt32BE(payload.length, 1);
  body.set(payload, 5);
  return body;
}

async function until(what: string, ok: () => boolean) {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), what);
}

test("the wheel beats every joined stream with its tick's time, and a stream that left no more", async () => {
  const wheel = createHeartbeatWheel(40, 2);
  try {
    const beats: number[][] = [[], [], [], []];
    const leave = beats.map((got) => wheel.join((now) => got.push(now)));
    await until("every stream beat twice", () => beats.every((b) => b.length >= 2));
    // Streams 0 and 2 share a bucket (round-robin over 2 slots): each tick tells them the same time.
    assert.deepEqual(beats[0].slice(0, 2), beats[2].slice(0, 2));
    leave[1]();
    const left = beats[1].length;
    const others = beats[3].length;
    await until("the others beat on", () => beats[3].length >= others + 2);
    assert.equal(beats[1].length, left, "a stream that left is not beaten");
  } finally {
    wheel.close();
  }
});

test("a tick sends each open stream the one shared heartbeat and marks it seen; a closed stream gets nothing more", async () => {
  // A period of 40 ms marks lastSeen at most every 60 ms (1.5 periods).
  const { wheel, lastSeen, touched, svc } = agentService(40);
  try {
    await devices("tick-a", "tick-b", "tick-c");
    const streams = ["tick-a", "tick-b", "tick-c"].map((name) => {
      const sent: WatchRenderedDeviceResponse[] = [];
      let ended = false;
      const sink: StreamSink<WatchRenderedDeviceResponse> = { send: (m) => sent.push(m), end: () => (ended = true) };
      const caller: Caller = {
        orgId: DEFAULT_ORG_ID,
        identity: { kind: "device", actor: `device:${name}`, username: name, deviceName: name, orgId: DEFAULT_ORG_ID },
      };
      return { name, sent, ended: () => ended, close: svc.openWatch(caller, name, "", sink) };
    });
    await until("every stream got heartbeats", () => streams.every((s) => s.sent.length >= 3));
    for (const s of streams) assert.ok(s.sent.every((m) => m.heartbeat && !m.device));
    // One bucket: each tick's message is the very same object for all three streams.
    assert.equal(streams[0].sent[1], streams[1].sent[1]);
    assert.equal(streams[1].sent[1], streams[2].sent[1]);
    assert.notEqual(streams[0].sent[1], streams[0].sent[2], "the next tick has its own heartbeat");
    assert.ok(timestampMs(streams[0].sent[2].heartbeat!) >= timestampMs(streams[0].sent[1].heartbeat!));
    await until("heartbeats mark every stream seen again", () => streams.every((s) => touched.filter((n) => n === s.name).length >= 2));

    streams[1].close();
    assert.ok(streams[1].ended(), "the closed stream is ended");
    const after = streams[1].sent.length;
    const other = streams[0].sent.length;
    await until("the open streams beat on", () => streams[0].sent.length >= other + 2 && streams[2].sent.length >= other + 2);
    assert.equal(streams[1].sent.length, after, "nothing is sent to a closed stream");
  } finally {
    wheel.drain(); // ends the streams still open
    wheel.close();
    await lastSeen.close();
  }
});

test("a stream with nothing newer for the agent hears a heartbeat at once, not at the next tick", async () => {
  const { wheel, lastSeen, svc } = agentService(600_000);
  try {
    const sent: WatchRenderedDeviceResponse[] = [];
    const sink: StreamSink<WatchRenderedDeviceResponse> = { send: (m) => sent.push(m), end: () => {} };
    const name = "not-rendered";
    await devices(name);
    const caller: Caller = {
      orgId: DEFAULT_ORG_ID,
      identity: { kind: "device", actor: `device:${name}`, username: name, deviceName: name, orgId: DEFAULT_ORG_ID },
    };
    const close = svc.openWatch(caller, name, "", sink);
    await until("the first message", () => sent.length > 0);
    assert.equal(sent.length, 1);
    assert.ok(sent[0].heartbeat && !sent[0].device, "a heartbeat, with no device");
    close();
  } finally {
    wheel.drain();
    wheel.close();
    await lastSeen.close();
  }
});

test("a stream for a device that does not exist ends with NotFound, sends nothing and marks it not seen", async () => {
  const { wheel, lastSeen, touched, svc } = agentService(600_000);
  try {
    const sent: WatchRenderedDeviceResponse[] = [];
    let ended: { err?: unknown } | undefined;
    const sink: StreamSink<WatchRenderedDeviceResponse> = { send: (m) => sent.push(m), end: (err) => (ended = { err }) };
    const name = "never-enrolled";
    const caller: Caller = {
      orgId: DEFAULT_ORG_ID,
      identity: { kind: "device", actor: `device:${name}`, username: name, deviceName: name, orgId: DEFAULT_ORG_ID },
    };
    svc.openWatch(caller, name, "", sink);
    await until("the stream ends", () => ended !== undefined);
    assert.equal(toConnectError(ended?.err).code, Code.NotFound);
    assert.equal(sent.length, 0, "nothing is sent");
    assert.deepEqual(touched, [], "a device that does not exist is not marked seen");
  } finally {
    wheel.drain();
    wheel.close();
    await lastSeen.close();
  }
});

test("raw gRPC streams: one message sent to many is written to each, not to a stream the client reset; the next is encoded afresh", async () => {
  const sinks: StreamSink<WatchRenderedDeviceResponse>[] = [];
  const server = http2.createServer();
  server.on("stream", (stream) =>
    serveRaw(
      stream,
      {
        method: AgentDeviceService.method.watchRenderedDevice,
        async open(_req: WatchRenderedDeviceRequest, sink: StreamSink<WatchRenderedDeviceResponse>) {
          sinks.push(sink);
          return () => {};
        },
      },
      { authorized: false },
      { limits: DEFAULT_ENDPOINT_LIMITS, logInternal: () => {}, done: () => {} },
    ),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    const body = watchRequestFrame();
    const calls = [0, 1, 2].map(() => {
      const req = client.request({ ":method": "POST", ":path": "/x", "content-type": "application/grpc", te: "trailers" });
      const got: WatchRenderedDeviceResponse[] = [];
      let data = Buffer.alloc(0);
      req.on("data", (chunk: Buffer) => {
        data = Buffer.concat([data, chunk]);
        while (data.length >= 5 && data.length >= 5 + data.readUInt32BE(1)) {
          const n = data.readUInt32BE(1);
          got.push(fromBinary(WatchRenderedDeviceResponseSchema, data.subarray(5, 5 + n)));
          data = data.subarray(5 + n);
        }
      });
      req.on("error", () => {});
      req.end(body);
      return { req, got };
    });
    await until("three streams open", () => sinks.length === 3);
    const beat = (ms: number) => create(WatchRenderedDeviceResponseSchema, { heartbeat: { seconds: BigInt(ms / 1000), nanos: 0 } });
    const first = beat(1_000_000);
    for (const sink of sinks) sink.send(first);
    await until("every stream got the shared message", () => calls.every((c) => c.got.length === 1));
    for (const c of calls) assert.equal(c.got[0].heartbeat?.seconds, 1000n);

    calls[1].req.close(http2.constants.NGHTTP2_CANCEL);
    await new Promise((r) => setTimeout(r, 50));
    const second = beat(2_000_000);
    for (const sink of sinks) sink.send(second); // the reset stream's sink sends nothing and does not throw
    await until("the open streams got the next message", () => calls[0].got.length === 2 && calls[2].got.length === 2);
    for (const c of [calls[0], calls[2]]) assert.equal(c.got[1].heartbeat?.seconds, 2000n, "encoded afresh, not the last bytes");
    assert.equal(calls[1].got.length, 1);
  } finally {
    for (const sink of sinks) sink.end();
    client.destroy();
    await new Promise((r) => server.close(r));
  }
});

test("a raw stream answers with its gRPC headers and trailers, and keeps no copy of the headers it sent", async () => {
  let served: http2.ServerHttp2Stream | undefined;
  let sink: StreamSink<WatchRenderedDeviceResponse> | undefined;
  const outcomes: number[] = [];
  const server = http2.createServer();
  server.on("stream", (stream) => {
    served = stream;
    serveRaw(
      stream,
      {
        method: AgentDeviceService.method.watchRenderedDevice,
        async open(_req: WatchRenderedDeviceRequest, s: StreamSink<WatchRenderedDeviceResponse>) {
          sink = s;
          return () => {};
        },
      },
      { authorized: false },
      { limits: DEFAULT_ENDPOINT_LIMITS, logInternal: () => {}, done: (code) => outcomes.push(code) },
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    const body = watchRequestFrame();
    const req = client.request({ ":method": "POST", ":path": "/x", "content-type": "application/grpc", te: "trailers" });
    const headers = new Promise<http2.IncomingHttpHeaders>((r) => req.once("response", r));
    const trailers = new Promise<http2.IncomingHttpHeaders>((r) => req.once("trailers", r));
    req.on("data", () => {});
    req.end(body);
    const h = await headers;
    assert.equal(h[":status"], 200);
    assert.equal(h["content-type"], "application/grpc+proto");
    assert.equal(served?.headersSent, true);
    assert.equal(served?.sentHeaders, undefined, "Node's copy of the sent headers is dropped");
    sink?.end();
    assert.equal((await trailers)["grpc-status"], "0");
    assert.deepEqual(outcomes, [0]);
  } finally {
    client.destroy();
    await new Promise((r) => server.close(r));
  }
});
