// The input boundary over real sockets: bodies that do not decode and content types no protocol serves answer
// InvalidArgument (never Internal) on both endpoints and all three protocols; NUL and lone surrogates in any string
// field are refused naming the field; error messages quote only a prefix of the input; an oversized body gets
// ResourceExhausted at once, also over Node's own http2 client; idle connections are closed after their timeouts while
// a long stream outlives them.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { DeviceSchema } from "../gen/flightctl/v1beta1/device_pb.js";
import { ConsoleService } from "../gen/flightctl/v1beta1/console_service_pb.js";
import { fieldViolations } from "../lib/field-violations.js";
import { DEFAULT_ENDPOINT_LIMITS } from "../server/platform/endpoint-limits.js";
import { assertNoOpenHandles } from "./helpers/leaks.js";
import { startTestApi, type TestApi } from "./helpers/api.js";

const USER = [
  "/flightctl.v1beta1.DeviceService/GetDevice",
  "/flightctl.v1beta1.FleetService/CreateFleet",
  "/flightctl.v1beta1.DeviceService/ListDevices",
  "/flightctl.v1beta1.DeviceService/WatchDevices", // a server stream
];
const AGENT = [
  "/flightctl.agent.v1beta1.AgentDeviceService/ReplaceDeviceStatus",
  "/flightctl.agent.v1beta1.AgentDeviceService/GetRenderedDevice",
];
const GARBAGE = Buffer.from([0x0a, 0xff, 0x01]); // field 1, length 255, then 1 byte: premature EOF

const frame = (payload: Buffer, flags = 0) => {
  const f = Buffer.alloc(5 + payload.length);
  f[0] = flags;
  f.writeUInt32BE(payload.length, 1);
  payload.copy(f, 5);
  return f;
};

interface Answer {
  ms: number;
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
}

/** One request over a fresh HTTP/2 connection (node:http2, as Node's own clients do), its whole answer. */
function h2(port: number, ca: Buffer, path: string, headers: Record<string, string>, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const session = http2.connect(`https://localhost:${port}`, { ca });
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ":path": path, te: "trailers", ...headers });
    let head: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on("response", (h) => {
      head = { ...h };
    });
    req.on("trailers", (t) => {
      head = { ...head, ...t };
    });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", () => {}); // a reset after the answer
    req.on("close", () => {
      session.close();
      resolve({ ms: performance.now() - started, status: Number(head[":status"]), headers: head, body: Buffer.concat(chunks) });
    });
    req.end(body);
  });
}

/** One request over HTTP/1.1 (ALPN http/1.1). */
function h1(
  port: number,
  ca: Buffer,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
  agent: https.Agent | false = false,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = https.request({ host: "localhost", port, path, method: "POST", ca, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ ms: performance.now() - started, status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** The status an answer carries in the protocol it was sent in: Connect JSON error, gRPC trailers, gRPC-Web trailer frame. */
function codeOf(protocol: string, a: Answer): { code: string; message: string } {
  if (protocol === "connect") {
    if (a.status === 200 && a.headers["content-type"]?.toString().startsWith("application/connect")) {
      // A Connect stream: the end-of-stream frame (flag 2) carries the error.
      const end = JSON.parse(a.body.subarray(5).toString()).error ?? {};
      return { code: end.code ?? "ok", message: end.message ?? "" };
    }
    const err = JSON.parse(a.body.toString());
    return { code: err.code, message: err.message };
  }
  let h = a.headers;
  if (protocol === "grpc-web" && h["grpc-status"] === undefined) {
    h = Object.fromEntries(
      a.body
        .subarray(5)
        .toString()
        .split("\r\n")
        .filter(Boolean)
        .map((l) => [l.slice(0, l.indexOf(":")).trim(), l.slice(l.indexOf(":") + 1).trim()]),
    );
  }
  return { code: Code[Number(h["grpc-status"])], message: decodeURIComponent(String(h["grpc-message"] ?? "")) };
}

const CONNECT_CODE: Record<string, string> = { invalid_argument: "InvalidArgument", resource_exhausted: "ResourceExhausted" };
const normal = (c: string) => CONNECT_CODE[c] ?? c;

function garbageRequest(protocol: string, path: string): { headers: Record<string, string>; body: Buffer } {
  const stream = path.includes("/Watch");
  if (protocol === "connect") {
    return stream
      ? { headers: { "content-type": "application/connect+proto" }, body: frame(GARBAGE) }
      : { headers: { "content-type": "application/proto" }, body: GARBAGE };
  }
  return { headers: { "content-type": protocol === "grpc" ? "application/grpc" : "application/grpc-web+proto" }, body: frame(GARBAGE) };
}

describe("input boundary", () => {
  let t: TestApi;
  let ca: Buffer;
  let token: string;
  let transports: [string, Transport][];

  before(async () => {
    t = await startTestApi();
    ca = readFileSync(t.api.caPath);
    token = await t.issuer.token("root", { roles: ["flightctl-admin"] });
    const bearer: Interceptor = (next) => (req) => {
      req.header.set("authorization", `Bearer ${token}`);
      return next(req);
    };
    const baseUrl = `https://localhost:${t.api.port}`;
    const nodeOptions = { ca };
    transports = [
      [
        "connect+json",
        createConnectTransport({ baseUrl, httpVersion: "1.1", nodeOptions, interceptors: [bearer], useBinaryFormat: false }),
      ],
      ["grpc", createGrpcTransport({ baseUrl, nodeOptions, interceptors: [bearer] })],
      ["grpc-web", createGrpcWebTransport({ baseUrl, httpVersion: "2", nodeOptions, interceptors: [bearer] })],
    ];
  });
  after(async () => {
    await t.close();
  });

  test("an undecodable body is InvalidArgument on every protocol, both endpoints", async () => {
    const auth = () => ({ authorization: `Bearer ${token}` });
    for (const protocol of ["connect", "grpc", "grpc-web"]) {
      for (const [port, paths] of [
        [t.api.port, USER],
        [t.api.agentPort, AGENT],
      ] as const) {
        for (const path of paths) {
          const { headers, body } = garbageRequest(protocol, path);
          const a = await h2(port, ca, path, { ...headers, ...auth() }, body);
          const { code, message } = codeOf(protocol, a);
          assert.equal(normal(code), "InvalidArgument", `${protocol} ${path}: ${code} ${message}`);
          assert.match(message, /cannot decode the request/, `${protocol} ${path}`);
          if (protocol === "connect" && !path.includes("/Watch")) assert.equal(a.status, 400, path);
        }
      }
    }
    // HTTP/1.1 too (Connect unary).
    const a = await h1(t.api.port, ca, USER[0], { "content-type": "application/proto", ...auth() }, GARBAGE);
    assert.equal(a.status, 400);
    assert.equal(JSON.parse(a.body.toString()).code, "invalid_argument");
    // Malformed JSON was InvalidArgument already; it stays so, and an unknown 3 MB key is not echoed back.
    const j = await h1(t.api.port, ca, USER[0], { "content-type": "application/json", ...auth() }, Buffer.from('{"name": '));
    assert.equal(j.status, 400);
    const key = await h1(
      t.api.port,
      ca,
      USER[0],
      { "content-type": "application/json", ...auth() },
      Buffer.from(`{"${"k".repeat(3_000_000)}": 1}`),
    );
    assert.equal(key.status, 400);
    assert.ok(key.body.length < 1200, `${key.body.length} bytes`);
  });

  test("a gRPC call with no request message, or two, is InvalidArgument", async () => {
    const auth = { authorization: `Bearer ${token}` };
    for (const path of [USER[0], USER[3]]) {
      for (const body of [Buffer.alloc(0), Buffer.concat([frame(Buffer.alloc(0)), frame(Buffer.alloc(0))])]) {
        const a = await h2(t.api.port, ca, path, { "content-type": "application/grpc", ...auth }, body);
        assert.equal(codeOf("grpc", a).code, "InvalidArgument", `${path}: ${codeOf("grpc", a).message}`);
      }
    }
  });

  test("the agent's raw gRPC stream refuses an undecodable request with InvalidArgument", async () => {
    const a = await h2(
      t.api.agentPort,
      ca,
      "/flightctl.agent.v1beta1.AgentDeviceService/WatchRenderedDevice",
      { "content-type": "application/grpc" },
      frame(GARBAGE),
    );
    assert.equal(codeOf("grpc", a).code, "InvalidArgument", codeOf("grpc", a).message);
  });

  test("a content type no protocol serves: 415 with InvalidArgument for Connect, a gRPC status for gRPC types", async () => {
    for (const path of [USER[0], USER[3]]) {
      const plain = await h2(t.api.port, ca, path, { "content-type": "text/plain" }, GARBAGE);
      assert.equal(plain.status, 415);
      assert.equal(JSON.parse(plain.body.toString()).code, "invalid_argument");
      const xml = await h2(t.api.port, ca, path, { "content-type": "application/grpc+xml" }, frame(GARBAGE));
      assert.equal(codeOf("grpc", xml).code, "InvalidArgument");
    }
  });

  test("NUL and lone surrogates in any string field: InvalidArgument naming the field", async () => {
    for (const [protocol, transport] of transports) {
      const devices = createClient(DeviceService, transport);
      const cases: [string, () => Promise<unknown>][] = [
        ["name", () => devices.getDevice({ name: "dev\u0000ice" })],
        [
          "device.metadata.labels.site",
          () =>
            devices.createDevice({
              device: create(DeviceSchema, {
                apiVersion: "flightctl.io/v1beta1",
                kind: "Device",
                metadata: { name: "d1", labels: { site: "a\u0000b" } },
              }),
            }),
        ],
        [
          "device.spec.os.image",
          () =>
            devices.createDevice({
              device: create(DeviceSchema, {
                apiVersion: "flightctl.io/v1beta1",
                kind: "Device",
                metadata: { name: "d2" },
                spec: { os: { image: "quay.io/x\u0000" } },
              }),
            }),
        ],
      ];
      for (const [field, call] of cases) {
        const e = await call().then(
          () => assert.fail(`${protocol} ${field}: the call succeeded`),
          (err: unknown) => ConnectError.from(err),
        );
        assert.equal(Code[e.code], "InvalidArgument", `${protocol} ${field}: ${e.message}`);
        assert.deepEqual(
          fieldViolations(e).map((v) => v.field),
          [field],
          `${protocol}: ${e.message}`,
        );
      }
      // A lone surrogate cannot be encoded in protobuf binary (UTF-8 only); as JSON, decoding refuses it naming the field.
      if (protocol === "connect+json") {
        const e = await devices.getDevice({ name: "dev\ud800ice" }).then(
          () => assert.fail("the call succeeded"),
          (err: unknown) => ConnectError.from(err),
        );
        assert.equal(e.code, Code.InvalidArgument, e.message);
        assert.match(e.rawMessage, /GetDeviceRequest\.name/);
      }
    }
  });

  test("an oversized field, list or nesting is refused naming it", async () => {
    const devices = createClient(DeviceService, transports[1][1]);
    const labels = Object.fromEntries(Array.from({ length: DEFAULT_ENDPOINT_LIMITS.input.maxItems + 1 }, (_, i) => [`k${i}`, "v"]));
    const e = await devices
      .createDevice({
        device: create(DeviceSchema, { apiVersion: "flightctl.io/v1beta1", kind: "Device", metadata: { name: "d3", labels } }),
      })
      .then(
        () => assert.fail("the call succeeded"),
        (err: unknown) => ConnectError.from(err),
      );
    assert.equal(e.code, Code.InvalidArgument);
    assert.deepEqual(
      fieldViolations(e).map((v) => v.field),
      ["device.metadata.labels"],
    );
    const long = "x".repeat(DEFAULT_ENDPOINT_LIMITS.input.maxStringLength + 1);
    const l = await devices.getDevice({ name: long }).then(
      () => assert.fail("the call succeeded"),
      (err: unknown) => ConnectError.from(err),
    );
    assert.equal(l.code, Code.InvalidArgument);
    assert.ok(l.rawMessage.length < 200, l.rawMessage);
  });

  test("a huge selector or name is quoted back as a short prefix", async () => {
    const devices = createClient(DeviceService, transports[1][1]);
    for (const labelSelector of ["bad key!=x,".repeat(50_000), `${"a".repeat(3_000_000)}!`]) {
      const e = await devices.listDevices({ options: { labelSelector } }).then(
        () => assert.fail("the call succeeded"),
        (err: unknown) => ConnectError.from(err),
      );
      assert.equal(e.code, Code.InvalidArgument);
      assert.ok(e.rawMessage.length < 400, `${e.rawMessage.length} characters: ${e.rawMessage.slice(0, 400)}`);
    }
    const n = await devices.getDevice({ name: "n".repeat(500_000) }).then(
      () => assert.fail("the call succeeded"),
      (err: unknown) => ConnectError.from(err),
    );
    assert.equal(n.code, Code.NotFound);
    assert.ok(n.rawMessage.length < 200, n.rawMessage.slice(0, 300));
  });

  test("ListConsoleSessions refuses a malformed device name", async () => {
    const consoles = createClient(ConsoleService, transports[1][1]);
    const e = await consoles.listConsoleSessions({ name: "Not_A_Name!" }).then(
      () => assert.fail("the call succeeded"),
      (err: unknown) => ConnectError.from(err),
    );
    assert.equal(e.code, Code.InvalidArgument);
    assert.deepEqual(
      fieldViolations(e).map((v) => v.field),
      ["name"],
    );
  });

  test("a 5 MB body gets ResourceExhausted at once: node:http2 (Connect and gRPC) and HTTP/1.1", async () => {
    const big = Buffer.alloc(5 * 1024 * 1024, 1);
    const auth = { authorization: `Bearer ${token}` };
    for (const [protocol, headers, body] of [
      ["connect", { "content-type": "application/proto" }, big],
      ["grpc", { "content-type": "application/grpc" }, frame(big)],
      ["grpc-web", { "content-type": "application/grpc-web+proto" }, frame(big)],
    ] as const) {
      const a = await h2(t.api.port, ca, USER[0], { ...headers, ...auth }, body);
      assert.equal(normal(codeOf(protocol, a).code), "ResourceExhausted", `${protocol}: ${codeOf(protocol, a).message}`);
      assert.ok(a.ms < 5000, `${protocol}: answered after ${a.ms} ms`);
    }
    // HTTP/1.1 through a keep-alive agent: the early answer closes the connection, so the agent's next request goes on
    // a new one instead of behind a body the server never reads (where it waited forever).
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
    try {
      const a = await h1(t.api.port, ca, USER[0], { "content-type": "application/proto", ...auth }, big, agent);
      assert.equal(JSON.parse(a.body.toString()).code, "resource_exhausted");
      assert.ok(a.ms < 5000, `HTTP/1.1: answered after ${a.ms} ms`);
      assert.equal(a.headers.connection, "close");
      const next = await h1(t.api.port, ca, USER[0], { "content-type": "application/proto", ...auth }, Buffer.alloc(0), agent);
      assert.ok(next.ms < 5000 && next.status > 0, `the next request on the agent: ${next.status} after ${next.ms} ms`);
    } finally {
      agent.destroy();
    }
  });
});

describe("connection limits", () => {
  const limits = {
    ...DEFAULT_ENDPOINT_LIMITS,
    tlsHandshakeTimeoutMs: 500,
    headersTimeoutMs: 500,
    keepAliveTimeoutMs: 500,
    http2IdleTimeoutMs: 500,
    maxConcurrentStreams: 7,
  };
  let t: TestApi;
  let ca: Buffer;

  before(async () => {
    t = await startTestApi({ limits });
    ca = readFileSync(t.api.caPath);
  });
  after(async () => {
    await t.close();
    await assertNoOpenHandles();
  });

  /** Milliseconds until the server closes `sock` (fails after `max`). */
  const closedWithin = (sock: net.Socket, max: number) =>
    new Promise<number>((resolve, reject) => {
      const started = performance.now();
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`still open after ${max} ms`));
      }, max);
      sock.on("error", () => {});
      sock.on("close", () => {
        clearTimeout(timer);
        resolve(performance.now() - started);
      });
      sock.resume();
    });

  test("a TCP connection that never starts TLS is closed after the handshake timeout", async () => {
    const sock = net.connect(t.api.port, "127.0.0.1");
    await new Promise((r) => sock.once("connect", r));
    assert.ok((await closedWithin(sock, 5000)) < 3000);
  });

  test("an HTTP/1.1 connection that sends nothing, or idles after a request, is closed", async () => {
    const silent = tls.connect({ port: t.api.port, host: "localhost", ca, ALPNProtocols: ["http/1.1"] });
    await new Promise((r) => silent.once("secureConnect", r));
    assert.equal(silent.alpnProtocol, "http/1.1");
    assert.ok((await closedWithin(silent, 5000)) < 3000);

    const kept = tls.connect({ port: t.api.port, host: "localhost", ca, ALPNProtocols: ["http/1.1"] });
    await new Promise((r) => kept.once("secureConnect", r));
    kept.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n");
    const response = await new Promise<string>((r) => kept.once("data", (d: Buffer) => r(d.toString())));
    assert.match(response, /^HTTP\/1.1 200/);
    assert.ok((await closedWithin(kept, 5000)) < 3000); // 500 ms, not Node's default 5 s
  });

  test("an HTTP/2 session without streams gets GOAWAY after the idle timeout; one with an open stream is kept", async () => {
    const idle = http2.connect(`https://localhost:${t.api.port}`, { ca });
    const settings = await new Promise<http2.Settings>((r) => idle.once("remoteSettings", r));
    assert.equal(settings.maxConcurrentStreams, limits.maxConcurrentStreams);
    const goaway = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no GOAWAY within 5 s")), 5000);
      idle.once("goaway", (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    const closed = new Promise<void>((r) => idle.once("close", () => r()));
    assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR);
    await closed;

    // A watch held open across several idle timeouts still delivers.
    const token = await t.issuer.token("root", { roles: ["flightctl-admin"] });
    const transport = createGrpcTransport({
      baseUrl: `https://localhost:${t.api.port}`,
      nodeOptions: { ca },
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${token}`);
          return next(req);
        },
      ],
    });
    const devices = createClient(DeviceService, transport);
    const abort = new AbortController();
    const seen: string[] = [];
    const watching = (async () => {
      try {
        for await (const ev of devices.watchDevices({}, { signal: abort.signal })) {
          const name = ev.object?.metadata?.name;
          if (name) seen.push(name);
        }
      } catch (e) {
        if (!abort.signal.aborted) throw e;
      }
    })();
    await new Promise((r) => setTimeout(r, 2000)); // four idle timeouts
    await devices.createDevice({
      device: create(DeviceSchema, { apiVersion: "flightctl.io/v1beta1", kind: "Device", metadata: { name: "late" } }),
    });
    const deadline = Date.now() + 5000;
    while (!seen.includes("late") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    abort.abort();
    await watching;
    assert.ok(seen.includes("late"), `the watch saw ${JSON.stringify(seen)}`);
  });

  test("an HTTP/2 session whose streams all ended gets GOAWAY after the idle timeout", async () => {
    const session = http2.connect(`https://localhost:${t.api.port}`, { ca });
    let goaway = false;
    session.once("goaway", () => (goaway = true));
    const get = () =>
      new Promise<number>((resolve, reject) => {
        const req = session.request({ ":path": "/healthz" });
        req.on("response", (h) => resolve(Number(h[":status"])));
        req.on("error", reject);
        req.resume();
        req.end();
      });
    // Streams ended both ways: answered, and one the client reset (an open one keeps the session: the test above).
    assert.equal((await Promise.all([get(), get()])).join(), "200,200");
    const reset = session.request({ ":method": "POST", ":path": "/healthz" });
    reset.on("error", () => {});
    reset.close(http2.constants.NGHTTP2_CANCEL);
    const closed = new Promise<void>((r) => session.once("close", () => r()));
    const deadline = Date.now() + 5000;
    while (!goaway && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(goaway, true, "GOAWAY once the session's streams all ended");
    await closed;
  });

  test("agent endpoint sessions keep no HPACK tables (SETTINGS_HEADER_TABLE_SIZE 0), the user endpoint's do; both answer", async () => {
    const get = async (port: number) => {
      const session = http2.connect(`https://localhost:${port}`, { ca: readFileSync(t.api.bundlePath) });
      try {
        const settings = await new Promise<http2.Settings>((r) => session.once("remoteSettings", r));
        // Two requests on the session: the second's headers would be table references if the server kept a table.
        const statuses: number[] = [];
        for (let i = 0; i < 2; i++) {
          const req = session.request({ ":path": "/healthz" });
          const head = await new Promise<http2.IncomingHttpHeaders>((r, j) => req.once("response", r).once("error", j));
          req.resume();
          await new Promise((r) => req.once("end", r));
          statuses.push(Number(head[":status"]));
        }
        return { tableSize: settings.headerTableSize, statuses };
      } finally {
        session.close();
      }
    };
    assert.deepEqual(await get(t.api.agentPort), { tableSize: 0, statuses: [200, 200] });
    assert.deepEqual(await get(t.api.port), { tableSize: 4096, statuses: [200, 200] });
  });
});
