// npm run bench:alerts — flightctl-alert-exporter under 10,000 devices flapping online/offline (issue 20).
//
// The exporter runs as its own process (bin/flightctl-alert-exporter.js) against a real Alertmanager 0.25
// (test/helpers/alertmanager.ts). Each round writes DeviceDisconnected for every device, then DeviceConnected for
// every device, through the event store (insertEvents, 1,000 per transaction, as the status path writes them). A phase
// ends when Alertmanager shows all the alerts (offline) or none (online). Figures: events/s turned into alerts visible
// in Alertmanager, exporter CPU (/proc/<pid>/stat) per 1,000 events, and event → alert visible p50/p99 for 100 probe
// devices (Alertmanager polled every 100 ms; resolution counts as visible when the alert is gone). Same-run baseline:
// the same number of alerts (firing, then resolved with endsAt) posted straight to Alertmanager by a plain loop in
// batches of 100. Knobs: BENCH_DEVICES (10000), BENCH_ROUNDS (3), BENCH_POLL_S (0.5, the exporter's poll).
import { type ChildProcess, spawn } from "node:child_process";
import pg from "pg";
import { migrate } from "../../db/migrate.js";
import { createDb } from "../../server/platform/db.js";
import { insertEvents, type NewEvent } from "../../server/platform/event-store.js";
import { DEFAULT_ORG_ID } from "../../server/platform/identity.js";
import { startAlertmanager, type AlertmanagerServer } from "../helpers/alertmanager.js";
import { benchDatabase, cpuMs, freePort } from "./server-process.js";

const DEVICES = Number(process.env.BENCH_DEVICES ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const POLL_S = process.env.BENCH_POLL_S ?? "0.5";
const PROBES = 100;
const PER_TX = 1000;
const PHASE_TIMEOUT_MS = 600_000;

const names = Array.from({ length: DEVICES }, (_, i) => (i < PROBES ? `probe-${i}` : `dev-${i}`));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function count(am: AlertmanagerServer, alertname: string): Promise<number> {
  return (await am.alerts([`alertname="${alertname}"`])).length;
}

/** Waits until `alertname` has `want` alerts in Alertmanager; meanwhile records when each probe's state flipped. */
async function untilVisible(
  am: AlertmanagerServer,
  alertname: string,
  want: number,
  firing: boolean,
  writtenAt: Map<string, number>,
  lat: number[],
) {
  const deadline = Date.now() + PHASE_TIMEOUT_MS;
  const pending = new Set(names.slice(0, PROBES));
  let lastCount = 0;
  while (Date.now() < deadline) {
    const probes = await am.alerts([`alertname="${alertname}"`, 'resource=~"probe-.*"']);
    const now = Date.now();
    const present = new Set(probes.map((a) => a.labels.resource));
    for (const p of [...pending]) {
      const at = writtenAt.get(p);
      if (at !== undefined && present.has(p) === firing) {
        lat.push(now - at);
        pending.delete(p);
      }
    }
    if (pending.size === 0 && (lastCount = await count(am, alertname)) === want) return;
    await sleep(100);
  }
  throw new Error(`timed out: ${alertname} ${lastCount}/${want} visible, ${pending.size} probes pending`);
}

async function main() {
  const db = await benchDatabase();
  const am = await startAlertmanager();
  let child: ChildProcess | undefined;
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  try {
    await migrate(db.url);
    const store = createDb(pool);
    const port = await freePort();
    child = spawn(process.execPath, ["bin/flightctl-alert-exporter.js"], {
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        FLIGHTCTL_ALERTMANAGER_URL: am.url,
        FLIGHTCTL_ALERT_EXPORTER_POLL_SECONDS: POLL_S,
        FLIGHTCTL_ALERT_EXPORTER_ADDRESS: `127.0.0.1:${port}`,
        LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "inherit", "inherit"],
    });
    const pid = child.pid!;
    for (let i = 0; ; i++) {
      const ok = await fetch(`http://127.0.0.1:${port}/health`).then(
        async (r) => (await r.json()).leader === true,
        () => false,
      );
      if (ok) break;
      if (i > 300) throw new Error("the exporter did not start");
      await sleep(200);
    }

    const lat: number[] = [];
    let writeMs = 0;
    const cpu0 = cpuMs(pid);
    const t0 = performance.now();
    for (let round = 0; round < ROUNDS; round++) {
      for (const [reason, alertname, want, firing] of [
        ["DeviceDisconnected", "DeviceDisconnected", DEVICES, true],
        ["DeviceConnected", "DeviceDisconnected", 0, false],
      ] as const) {
        const writtenAt = new Map<string, number>();
        const w0 = performance.now();
        for (let i = 0; i < DEVICES; i += PER_TX) {
          const chunk = names.slice(i, i + PER_TX);
          const list: NewEvent[] = chunk.map((name) => ({
            reason,
            type: firing ? "Warning" : "Normal",
            message: firing ? "Device is disconnected" : "Device is connected",
            actor: "service:bench",
            involvedObject: { kind: "Device", name },
            sourceComponent: "bench",
          }));
          await store.transaction((tx) => insertEvents(tx, DEFAULT_ORG_ID, list));
          const at = Date.now();
          for (const n of chunk) if (n.startsWith("probe-")) writtenAt.set(n, at);
        }
        writeMs += performance.now() - w0;
        await untilVisible(am, alertname, want, firing, writtenAt, lat);
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuMs(pid) - cpu0;
    const events = ROUNDS * 2 * DEVICES;
    child.kill("SIGTERM");
    await new Promise((r) => child!.once("exit", r));
    child = undefined;

    // Baseline: the same alerts posted by a plain loop, 100 per request, until Alertmanager shows them (or none).
    const url = `${am.url}/api/v2/alerts`;
    const b0 = performance.now();
    for (let round = 0; round < ROUNDS; round++) {
      for (const firing of [true, false]) {
        const startsAt = new Date().toISOString();
        for (let i = 0; i < DEVICES; i += 100) {
          const batch = names.slice(i, i + 100).map((name) => ({
            labels: { alertname: "BaselineDisconnected", resource: name, kind: "Device", org_id: DEFAULT_ORG_ID },
            annotations: { summary: "Device is disconnected", event: "baseline" },
            startsAt,
            ...(firing ? {} : { endsAt: new Date().toISOString() }),
          }));
          const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(batch) });
          if (!res.ok) throw new Error(`baseline post: ${res.status}`);
          await res.text();
        }
        while ((await count(am, "BaselineDisconnected")) !== (firing ? DEVICES : 0)) await sleep(100);
      }
    }
    const baseSeconds = (performance.now() - b0) / 1000;

    const rate = events / seconds;
    const baseRate = events / baseSeconds;
    console.log(
      `\nalerts bench: ${DEVICES} devices, ${ROUNDS} rounds offline+online, exporter poll ${POLL_S} s, load ${(await import("node:os"))
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(" ")}\n`,
    );
    console.log("| measure | exporter | baseline (plain loop posting to Alertmanager) | ratio |");
    console.log("|---|---|---|---|");
    console.log(
      `| events (alerts raised + resolved) visible in Alertmanager per s | ${rate.toFixed(0)} (${events} in ${seconds.toFixed(1)} s) | ${baseRate.toFixed(0)} (${events} in ${baseSeconds.toFixed(1)} s) | ${(rate / baseRate).toFixed(2)} |`,
    );
    console.log(
      `| exporter CPU | ${(cpu / 1000).toFixed(1)} s (${(cpu / (events / 1000)).toFixed(0)} ms per 1,000 events; ${(cpu / 10 / seconds).toFixed(0)} % of a core) | | |`,
    );
    console.log(`| event → alert visible p50 / p99 (${lat.length} probes) | ${pct(lat, 50)} / ${pct(lat, 99)} ms | | |`);
    console.log(`| time writing the events (bench, in the window) | ${(writeMs / 1000).toFixed(1)} s | | |`);
  } finally {
    if (child) child.kill("SIGKILL");
    await pool.end();
    await am.close();
    await db.cleanup();
  }
}

await main();
