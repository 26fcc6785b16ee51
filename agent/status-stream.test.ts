// The agent's status sender against a scripted server: reports go on one stream, each send resolving only with its
// acknowledgement; a stream that ended is replaced at the next report; an error fails the report in hand; a server
// without StreamDeviceStatus (Unimplemented) gets the unary ReplaceDeviceStatus instead.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { AgentDeviceService, StreamDeviceStatusResponseSchema } from "../gen/flightctl/agent/v1beta1/device_service_pb.js";
import { DeviceSchema } from "../gen/flightctl/v1beta1/device_pb.js";
import { createStatusSender, type StatusClient } from "./status-stream.js";

type Answer = "ack" | "end" | ConnectError;

/** A server that answers each report of each stream as `answer` says; it records what it received. */
function scripted(answer: (info: string, stream: number) => Answer, opts: { unimplemented?: boolean } = {}) {
  const streams: string[][] = [];
  const unary: string[] = [];
  const opened = { count: 0 };
  const infoOf = (r: { device?: { status?: { summary?: { info?: string } } } }) => r.device?.status?.summary?.info ?? "";
  const client: StatusClient = {
    async *streamDeviceStatus(reports) {
      opened.count++;
      if (opts.unimplemented) throw new ConnectError("HTTP 404", Code.Unimplemented);
      const got: string[] = [];
      const index = streams.push(got) - 1;
      let stored = 0n;
      for await (const r of reports) {
        const info = infoOf(r as never);
        got.push(info);
        await new Promise((resolve) => setTimeout(resolve, 1));
        const a = answer(info, index);
        if (a === "end") return;
        if (a instanceof ConnectError) throw a;
        yield create(StreamDeviceStatusResponseSchema, { stored: ++stored });
      }
    },
    async replaceDeviceStatus(r) {
      unary.push(infoOf(r as never));
      return {};
    },
  };
  return { client, streams, unary, opened };
}

const report = (info: string) => ({ name: "d", device: { status: { summary: { status: "Online", info } } } });

test("reports share one stream, in order, each send resolving with its acknowledgement", async () => {
  const s = scripted(() => "ack");
  const sender = createStatusSender(s.client);
  for (const i of ["a", "b", "c"]) {
    await sender.send(report(i), 5000);
    assert.equal(s.streams.flat().at(-1), i, "acknowledged only once the server had it");
  }
  assert.deepEqual(s.streams, [["a", "b", "c"]]);
  assert.deepEqual(s.unary, []);
  sender.close();
});

test("a stream that ended is replaced at the next report; one that failed fails the report in hand", async () => {
  // Stream 0 acknowledges "a", then ends cleanly (a draining server) on "b" without storing it; stream 1 fails "c".
  const s = scripted((info, stream) =>
    stream === 0 && info === "b" ? "end" : info === "c" ? new ConnectError("gone", Code.NotFound) : "ack",
  );
  const sender = createStatusSender(s.client);
  await sender.send(report("a"), 5000);
  await sender.send(report("b"), 5000); // resent on a new stream, acknowledged there
  await assert.rejects(sender.send(report("c"), 5000), (e) => ConnectError.from(e).code === Code.NotFound);
  await sender.send(report("d"), 5000);
  assert.deepEqual(s.streams, [["a", "b"], ["b", "c"], ["d"]]);
  sender.close();
});

test("a report not acknowledged in time fails (and the next one takes a new stream)", async () => {
  let hang = true;
  const s = scripted(() => "ack");
  const slow: StatusClient = {
    ...s.client,
    async *streamDeviceStatus(reports, options) {
      if (hang) {
        hang = false;
        for await (const _ of reports) await new Promise((_, reject) => options?.signal?.addEventListener("abort", reject));
      }
      yield* s.client.streamDeviceStatus(reports, options);
    },
  };
  const sender = createStatusSender(slow);
  await assert.rejects(sender.send(report("late"), 50));
  await sender.send(report("next"), 5000);
  assert.deepEqual(s.streams, [["next"]]);
  sender.close();
});

test("a server without StreamDeviceStatus gets the unary call, and the stream is not tried again for a while", async () => {
  let clock = 0;
  const s = scripted(() => "ack", { unimplemented: true });
  const sender = createStatusSender(s.client, () => clock);
  await sender.send(report("a"), 5000);
  await sender.send(report("b"), 5000);
  assert.deepEqual(s.unary, ["a", "b"]);
  assert.equal(s.opened.count, 1, "the stream was tried once");
  clock += 60 * 60_000; // an hour later the stream is tried again (the server may have been upgraded)
  await sender.send(report("c"), 5000);
  assert.deepEqual(s.unary, ["a", "b", "c"]);
  assert.equal(s.opened.count, 2);
  sender.close();
});

test("against a real server without the RPC (Connect's Unimplemented), the unary call carries the report", async () => {
  const got: string[] = [];
  const server = http2.createServer(
    connectNodeAdapter({
      routes(router) {
        // An older server: AgentDeviceService without StreamDeviceStatus.
        router.service(AgentDeviceService, {
          async replaceDeviceStatus(r) {
            got.push(r.device?.status?.summary?.info ?? "");
            return create(DeviceSchema, {});
          },
        });
      },
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const sessions = new Http2SessionManager(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const transport = createGrpcTransport({
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sessionManager: sessions,
  });
  const sender = createStatusSender(createClient(AgentDeviceService, transport));
  try {
    await sender.send(report("old server"), 5000);
    assert.deepEqual(got, ["old server"]);
  } finally {
    sender.close();
    sessions.abort();
    await new Promise((resolve) => server.close(resolve));
  }
});
