// The leak guard (test/helpers/leaks.ts), in a file of its own so no database pool muddies the handle counts.
import { assertNoOpenHandles } from "../test/helpers/leaks.js";
import { after, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";

after(() => assertNoOpenHandles());

test("reports an open server and a pending timer, and passes once they are closed", async () => {
  const server = net.createServer().listen(0, "127.0.0.1");
  const timer = setTimeout(() => {}, 60_000);
  try {
    await assert.rejects(assertNoOpenHandles({ graceMs: 50, exitOnLeak: false }), /1 × TCPServerWrap, 1 × Timeout/);
    await assertNoOpenHandles({ graceMs: 50, exitOnLeak: false, allow: ["TCPServerWrap", "Timeout"] });
  } finally {
    clearTimeout(timer);
    await new Promise((r) => server.close(r));
  }
  await assertNoOpenHandles();
});

test("waits for sockets that are still closing", async () => {
  const server = net.createServer((s) => s.end()).listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const sock = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  await new Promise((r) => sock.once("connect", r));
  sock.end();
  server.close();
  // Nothing awaited the close: the guard's grace period covers it.
  await assertNoOpenHandles();
});
