// The agent's status stream below Connect (grpc-stream.ts) against Connect's own server: reports acknowledged in order
// on one stream, the server's error codes and a clean end seen as Connect's client sees them, a server without the
// method answered as Unimplemented (the sender then takes the unary call), cancellation by the signal.
import assert from "node:assert/strict";
import { test } from "node:test";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { AgentDeviceService, StreamDeviceStatusResponseSchema } from "../gen/flightctl/agent/v1beta1/device_service_pb.js";
import { DeviceSchema } from "../gen/flightctl/v1beta1/device_pb.js";
import { grpcBidi, grpcServerStream } from "./grpc-stream.js";
import { createStatusSender } from "./status-stream.js";

const report = (info: string) => ({ name: "d", device: { status: { summary: { status: "Online", info } } } });
const infoOf = (r: { device?: { status?: { summary?: { info?: string } } } }) => r.device?.status?.summary?.info ?? "";

async function serve(routes: (router: ConnectRouter) => void) {
  const server = http2.createServer(connectNodeAdapter({ routes }));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sessions = new Http2SessionManager(url);
  const device = createClient(AgentDeviceService, createGrpcTransport({ baseUrl: url, sessionManager: sessions }));
  const sender = createStatusSender({
    streamDeviceStatus: (reports, options) => grpcBidi(sessions, AgentDeviceService.method.streamDeviceStatus, reports, options?.signal),
    replaceDeviceStatus: (r, options) => device.replaceDeviceStatus(r, options),
  });
  return {
    sender,
    sessions,
    async close() {
      sender.close();
      sessions.abort();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

test("reports go on one stream, in order, each send resolving once the server acknowledged it", async () => {
  const streams: string[][] = [];
  const s = await serve((router) =>
    router.service(AgentDeviceService, {
      async *streamDeviceStatus(reports) {
        const got: string[] = [];
        streams.push(got);
        let stored = 0n;
        for await (const r of reports) {
          got.push(infoOf(r));
          yield create(StreamDeviceStatusResponseSchema, { stored: ++stored });
        }
      },
    }),
  );
  try {
    for (const i of ["a", "b", "c"]) {
      await s.sender.send(report(i), 5000);
      assert.equal(streams.flat().at(-1), i, "acknowledged only once the server had it");
    }
    assert.deepEqual(streams, [["a", "b", "c"]]);
  } finally {
    await s.close();
  }
});

test("the server's error code fails the report in hand; a stream the server ended is replaced at the next report", async () => {
  const streams: string[][] = [];
  const s = await serve((router) =>
    router.service(AgentDeviceService, {
      async *streamDeviceStatus(reports) {
        const got: string[] = [];
        const index = streams.push(got) - 1;
        for await (const r of reports) {
          got.push(infoOf(r));
          if (infoOf(r) === "gone") throw new ConnectError("no such device", Code.NotFound);
          yield create(StreamDeviceStatusResponseSchema, { stored: 1n });
          if (index === 0) return; // a draining server: one report per stream
        }
      },
    }),
  );
  try {
    await s.sender.send(report("a"), 5000);
    await s.sender.send(report("b"), 5000);
    await assert.rejects(s.sender.send(report("gone"), 5000), (e) => ConnectError.from(e).code === Code.NotFound);
    await s.sender.send(report("c"), 5000);
    assert.deepEqual(streams, [["a"], ["b", "gone"], ["c"]]);
  } finally {
    await s.close();
  }
});

test("a server without the method is Unimplemented: the report takes the unary call", async () => {
  const unary: string[] = [];
  const s = await serve((router) =>
    router.service(AgentDeviceService, {
      async replaceDeviceStatus(r) {
        unary.push(infoOf(r));
        return create(DeviceSchema, {});
      },
    }),
  );
  try {
    await s.sender.send(report("old server"), 5000);
    assert.deepEqual(unary, ["old server"]);
  } finally {
    await s.close();
  }
});

test("the signal cancels the call; a report not acknowledged in time fails", async () => {
  const s = await serve((router) =>
    router.service(AgentDeviceService, {
      async *streamDeviceStatus(reports) {
        for await (const _ of reports) await new Promise(() => {}); // never acknowledges
      },
    }),
  );
  try {
    await assert.rejects(s.sender.send(report("late"), 100), (e) => ConnectError.from(e).code === Code.DeadlineExceeded);
    const ctl = new AbortController();
    const call = grpcBidi(s.sessions, AgentDeviceService.method.streamDeviceStatus, (async function* () {})(), ctl.signal);
    const next = call.next();
    ctl.abort(new ConnectError("stop", Code.Canceled));
    await assert.rejects(next, (e) => ConnectError.from(e).code === Code.Canceled);
  } finally {
    await s.close();
  }
});

test("a server stream (the rendered devices): the request reaches the server, messages come in order, its error code is the call's", async () => {
  const asked: string[] = [];
  const s = await serve((router) =>
    router.service(AgentDeviceService, {
      async *watchRenderedDevice(r) {
        asked.push(`${r.name}@${r.knownRenderedVersion}`);
        if (r.name === "deleted") throw new ConnectError("device not found", Code.NotFound);
        for (const v of ["1", "2"])
          yield { device: { metadata: { name: r.name, annotations: { "device-controller/renderedVersion": v } } } };
      },
    }),
  );
  try {
    const versions: string[] = [];
    for await (const m of grpcServerStream(s.sessions, AgentDeviceService.method.watchRenderedDevice, {
      name: "d",
      knownRenderedVersion: "0",
    }))
      versions.push(m.device?.metadata?.annotations["device-controller/renderedVersion"] ?? "");
    assert.deepEqual(versions, ["1", "2"], "then a clean end");
    await assert.rejects(
      (async () => {
        for await (const _ of grpcServerStream(s.sessions, AgentDeviceService.method.watchRenderedDevice, { name: "deleted" })) break;
      })(),
      (e) => ConnectError.from(e).code === Code.NotFound,
    );
    assert.deepEqual(asked, ["d@0", "deleted@"]);
  } finally {
    await s.close();
  }
});
