// The exporter killed -9 in the middle of a post (a gate in front of Alertmanager holds the third batch of 100 and the
// test kills the process then), while more events arrive: after a restart, the alerts in Alertmanager are exactly
// the expected ones, and no alert was notified twice.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { after, before, test } from "node:test";
import { startTestApp, type TestApp } from "./helpers/app.js";
import { startAlertmanager, type AlertmanagerServer } from "./helpers/alertmanager.js";
import { seen } from "./helpers/alerts.js";
import { freePort } from "./helpers/ports.js";
import { createDb } from "../server/platform/db.js";
import { insertEvents, type NewEvent } from "../server/platform/event-store.js";
import { DEFAULT_ORG_ID } from "../server/platform/identity.js";

let t: TestApp;
let am: AlertmanagerServer;
before(async () => {
  t = await startTestApp();
  am = await startAlertmanager();
});
after(async () => {
  await am?.close();
  await t?.close();
  await assertNoOpenHandles();
});

const event = (reason: string, name: string): NewEvent => ({
  reason,
  type: reason === "DeviceDisconnected" ? "Warning" : "Normal",
  message: reason === "DeviceDisconnected" ? "Device is disconnected" : "Device is connected",
  actor: "service:test",
  involvedObject: { kind: "Device", name },
  sourceComponent: "test",
});
const names = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `k-${String(from + i).padStart(3, "0")}`);
async function write(reason: string, list: string[]) {
  const db = createDb(t.db.pool);
  await db.transaction((tx) =>
    insertEvents(
      tx,
      DEFAULT_ORG_ID,
      list.map((n) => event(reason, n)),
    ),
  );
}

/** A pass-through to Alertmanager that, while `hold` is set, lets `hold` batches through and keeps the next one hanging. */
async function startGate(target: string) {
  let passed = 0;
  let hold: number | undefined;
  let onStall: () => void = () => {};
  const stalled = new Promise<void>((r) => (onStall = r));
  const hung = new Set<ServerResponse>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      if (hold !== undefined && passed >= hold) {
        hung.add(res);
        onStall();
        return;
      }
      passed++;
      const up = await fetch(`${target}${req.url}`, {
        method: req.method,
        headers: { "content-type": "application/json" },
        body: Buffer.concat(chunks),
      });
      res.writeHead(up.status, { "content-type": "application/json" }).end(await up.text());
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${port}`,
    stalled,
    holdAfter(n: number) {
      hold = n;
    },
    open() {
      hold = undefined;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const res of hung) res.destroy();
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

function startExporterProcess(alertmanagerUrl: string): ChildProcess {
  return spawn(process.execPath, ["bin/flightctl-alert-exporter.js"], {
    env: {
      ...process.env,
      DATABASE_URL: t.db.url,
      FLIGHTCTL_ALERTMANAGER_URL: alertmanagerUrl,
      FLIGHTCTL_ALERT_EXPORTER_POLL_SECONDS: "0.2",
      FLIGHTCTL_ALERT_EXPORTER_RESEND_SECONDS: "5",
      FLIGHTCTL_ALERT_EXPORTER_LOCK_RETRY_SECONDS: "0.2",
      FLIGHTCTL_ALERT_EXPORTER_ADDRESS: "127.0.0.1:0",
      LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
}
const killed = (c: ChildProcess) =>
  new Promise<void>((r) => {
    if (c.exitCode !== null || c.signalCode !== null) return r();
    c.once("exit", () => r());
    c.kill("SIGKILL");
  });

test("killed -9 mid-batch, the exporter restarts to exactly the expected set in Alertmanager", { timeout: 240_000 }, async () => {
  const gate = await startGate(am.url);
  let child: ChildProcess | undefined;
  try {
    // 350 disconnected devices: four batches; the third one hangs and the process is killed while it does.
    await write("DeviceDisconnected", names(0, 350));
    gate.holdAfter(2);
    child = startExporterProcess(gate.url);
    await gate.stalled;
    await killed(child);
    assert.equal((await am.alerts()).length, 200, "two batches of 100 reached Alertmanager before the kill");

    // While it is down: 50 devices come back (among them ones Alertmanager has), 50 more go away.
    await write("DeviceConnected", names(0, 50));
    await write("DeviceDisconnected", names(350, 400));
    gate.open();
    child = startExporterProcess(gate.url);

    const expected = names(50, 400).sort();
    const deadline = Date.now() + 120_000;
    let now: string[] = [];
    while (Date.now() < deadline) {
      now = (await am.alerts()).map((a) => a.labels.resource).sort();
      if (JSON.stringify(now) === JSON.stringify(expected)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.deepEqual(now, expected);
    // Every firing alert notified once; nothing doubled.
    await am.webhook.waitFor(
      () => expected.every((n) => seen(am.webhook.notifications, "DeviceDisconnected", n).includes("firing")),
      60_000,
    );
    await new Promise((r) => setTimeout(r, 4000));
    for (const n of names(0, 400)) {
      const s = seen(am.webhook.notifications, "DeviceDisconnected", n);
      assert.ok(s.filter((x) => x === "firing").length <= 1 && s.filter((x) => x === "resolved").length <= 1, `${n}: ${s}`);
      if (expected.includes(n)) assert.deepEqual(s, ["firing"], n);
    }
    // The exporter's own record agrees: the 350 active alerts, nothing left to send.
    const { rows } = await t.db.pool.query(
      `select count(*) filter (where ends_at is null)::int as active, count(*) filter (where dirty)::int as dirty from alerts`,
    );
    assert.deepEqual(rows[0], { active: 350, dirty: 0 });
  } finally {
    if (child) await killed(child);
    await gate.close();
  }
});
