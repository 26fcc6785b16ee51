// The agent's HTTP/2 session manager against a real TLS HTTP/2 server, through a TCP proxy that can freeze (a dead
// network) or refuse to finish handshakes: one connection however many calls wait, a new one when the old dies or
// goes away (the old one kept for its streams, then closed), a silent connection ended by its PING, a hanging
// handshake given up, and nothing left open after abort.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import { after, before, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { AgentSessionManager } from "../agent/session.js";
import { createCa, issueServerCert } from "../server/platform/pki/ca.js";

let server: http2.Http2SecureServer;
let ca: string;
let proxy: net.Server;
let proxyPort = 0;
/** Server-side sessions, in the order they connected. */
const serverSessions: http2.ServerHttp2Session[] = [];
/** Proxied TCP pairs; `frozen` stops forwarding in both directions (packets lost, nothing closed). */
const pairs: { client: net.Socket; upstream: net.Socket }[] = [];
let frozen = false;
/** New TCP connections are accepted but never forwarded (a handshake that never finishes). */
let blackhole = false;

before(async () => {
  const root = await createCa("session-test-ca");
  const cert = await issueServerCert(root, ["localhost", "127.0.0.1"]);
  ca = root.certPem;
  server = http2.createSecureServer({ cert: cert.certPem, key: cert.keyPem });
  server.on("session", (s) => serverSessions.push(s));
  server.on("stream", (stream, headers) => {
    // "/hold" stays open until the client ends it; anything else answers at once.
    stream.on("error", () => {}); // a client that cancels (abort) ends its open streams with an error
    stream.respond({ ":status": 200 });
    if (headers[":path"] === "/hold") stream.write("held");
    else if (headers[":path"] === "/drip") {
      // A stream that hears from the server often (as an agent's stream hears heartbeats).
      const t = setInterval(() => stream.write("."), 40);
      stream.once("close", () => clearInterval(t));
    } else stream.end("ok");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const upstreamPort = (server.address() as net.AddressInfo).port;
  proxy = net.createServer((client) => {
    if (blackhole) {
      client.on("error", () => {});
      pairs.push({ client, upstream: client });
      return;
    }
    const upstream = net.connect(upstreamPort, "127.0.0.1");
    const pair = { client, upstream };
    pairs.push(pair);
    client.on("data", (d) => frozen || upstream.write(d));
    upstream.on("data", (d) => frozen || client.write(d));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
  proxyPort = (proxy.address() as net.AddressInfo).port;
});

after(async () => {
  for (const p of pairs) p.client.destroy(), p.upstream.destroy();
  for (const s of serverSessions) s.destroy();
  await new Promise((r) => proxy.close(r));
  await new Promise((r) => server.close(r));
  await assertNoOpenHandles();
});

const manager = (opts: ConstructorParameters<typeof AgentSessionManager>[1] = {}) =>
  new AgentSessionManager(`https://localhost:${proxyPort}`, opts, { ca });

/** One call: resolves with the body of an answered path, or with the open stream of /hold or /drip. */
async function call(m: AgentSessionManager, path = "/ok") {
  const stream = await m.request("GET", path, {}, {});
  // As Connect's transport does: a stream ended with its connection reports the error to the call, not the process.
  stream.on("error", () => {});
  if (path === "/hold" || path === "/drip") {
    await new Promise((r) => stream.once("data", r));
    return stream;
  }
  let body = "";
  for await (const chunk of stream) body += chunk;
  return body;
}

const until = async (what: string, fn: () => boolean, ms = 5000) => {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (fn()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
};

test("calls made together while not connected share one connection", async () => {
  const before = serverSessions.length;
  const m = manager();
  const bodies = await Promise.all(Array.from({ length: 50 }, () => call(m)));
  assert.ok(bodies.every((b) => b === "ok"));
  assert.equal(serverSessions.length - before, 1);
  assert.equal(m.connections(), 1);
  await until("the streams to close", () => m.state() === "idle");
  m.abort();
  await until("the connection to close", () => m.connections() === 0);
});

test("a connection the server drops is replaced by exactly one new one", async () => {
  const m = manager();
  const held = (await call(m, "/hold")) as http2.ClientHttp2Stream;
  assert.equal(m.state(), "open");
  const failed = new Promise((r) => held.once("close", r));
  serverSessions.at(-1)!.destroy();
  await failed;
  await until("the dead connection to be forgotten", () => m.connections() === 0);
  const before = serverSessions.length;
  assert.deepEqual(await Promise.all([call(m), call(m), call(m)]), ["ok", "ok", "ok"]);
  assert.equal(serverSessions.length - before, 1);
  assert.equal(m.connections(), 1);
  m.abort();
});

test("after a GOAWAY new calls take a new connection; the old one closes when its stream ends", async () => {
  const m = manager();
  const held = (await call(m, "/hold")) as http2.ClientHttp2Stream;
  const old = serverSessions.at(-1)!;
  old.goaway(http2.constants.NGHTTP2_NO_ERROR);
  await until("the GOAWAY to arrive", () => m.connections() === 1 && m.state() !== "open");
  assert.equal(await call(m), "ok");
  assert.notEqual(serverSessions.at(-1), old, "the call went over a new connection");
  assert.equal(m.connections(), 2, "the old connection stays while its stream is open");
  assert.equal(held.closed, false);
  held.close();
  await until("the old connection to close", () => m.connections() === 1);
  m.abort();
  await until("every connection to close", () => m.connections() === 0);
});

test("a connection whose PINGs go unanswered is ended, and the next call reconnects", async () => {
  const m = manager({ pingIntervalMs: 100, pingTimeoutMs: 200 });
  const held = (await call(m, "/hold")) as http2.ClientHttp2Stream;
  const ended = new Promise<void>((r) => held.once("close", () => r()));
  frozen = true;
  try {
    await ended;
    await until("the silent connection to be dropped", () => m.connections() === 0);
  } finally {
    frozen = false;
  }
  assert.equal(await call(m), "ok");
  assert.equal(m.connections(), 1);
  m.abort();
});

test("no PING while the server's data keeps arriving; PINGs again once it is silent", async () => {
  const m = manager({ pingIntervalMs: 100, pingTimeoutMs: 1000 });
  const drip = (await call(m, "/drip")) as http2.ClientHttp2Stream;
  drip.resume();
  const session = serverSessions.at(-1)!;
  let pings = 0;
  session.on("ping", () => pings++);
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(pings, 0, "no PING while data arrives");
  const held = (await call(m, "/hold")) as http2.ClientHttp2Stream;
  held.resume();
  drip.close();
  await until("a PING on the now silent connection", () => pings >= 2);
  held.close();
  m.abort();
});

test("a handshake that never finishes is given up with Unavailable, leaving nothing open", async () => {
  blackhole = true;
  const m = manager({ connectTimeoutMs: 300 });
  try {
    const err = await call(m).then(
      () => assert.fail("the call succeeded"),
      (e: unknown) => ConnectError.from(e),
    );
    assert.equal(err.code, Code.Unavailable);
    assert.match(err.message, /took over 300 ms/);
    assert.equal(m.state(), "error");
    await until("the attempt's socket to close", () => m.connections() === 0);
  } finally {
    blackhole = false;
  }
  assert.equal(await call(m), "ok", "the next call connects");
  m.abort();
});

test("abort closes every connection, and later calls fail as Canceled instead of reconnecting", async () => {
  const m = manager();
  const held = (await call(m, "/hold")) as http2.ClientHttp2Stream;
  const before = serverSessions.length;
  m.abort();
  await until("the stream to end", () => held.closed);
  await until("the connection to close", () => m.connections() === 0);
  const err = await call(m).then(
    () => assert.fail("a call after abort succeeded"),
    (e: unknown) => ConnectError.from(e),
  );
  assert.equal(err.code, Code.Canceled);
  assert.equal(serverSessions.length, before, "no new connection");
});
