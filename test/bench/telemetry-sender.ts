// One sender process of the telemetry bench (telemetry.bench.ts starts several, so that the devices' TLS handshakes
// and requests are not all on one event loop): devices `from`..`to` of N, each with its own management certificate
// (signed here with the service CA of the bench's data dir, one key pair per process), exporting on the schedule the
// bench gives. Talks to the bench over IPC:
//   → {type: "ready", signS, contextsS}      certificates and TLS contexts made
//   ← {type: "go", startAt, connectS, intervalS, windows}   epoch ms of window 1; its sends spread over connectS
//   → {type: "window", w, answered, inflight} at each window's end
//   → {type: "sent", lat, ok, lag, statuses}  every scheduled export answered or timed out (ok: 200s per window)
//   ← {type: "report"}                        → {type: "sent", …} at once, with what is answered so far
//   ← {type: "flood", concurrency}            one more window's exports back to back
//   → {type: "flooded", statuses}
//   ← {type: "exit"}
import { performance } from "node:perf_hooks";
import { createSecureContext } from "node:tls";
import { readFileSync } from "node:fs";
import { generateDeviceKey } from "../../lib/csr.js";
import { DEFAULT_ORG_ID } from "../../server/platform/identity.js";
import { ensurePki } from "../../server/platform/pki/ca.js";
import { signClientCertificate } from "../../server/platform/pki/signer.js";
import { createSender, deviceName, otlpBody } from "./telemetry-load.js";

interface Job {
  port: number;
  dataDir: string;
  from: number;
  to: number;
  n: number;
  exportTimeoutS: number;
}

type Go = { type: "go"; startAt: number; connectS: number; intervalS: number; windows: number };
type Flood = { type: "flood"; concurrency: number };

const job = JSON.parse(process.env.BENCH_SENDER_JOB ?? "{}") as Job;
const reply = (m: unknown) => process.send?.(m);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const pki = await ensurePki(job.dataDir);
  const ca = readFileSync(pki.bundlePath, "utf8");
  let t = performance.now();
  const keys = await generateDeviceKey();
  const certs: string[] = [];
  for (let i = job.from; i < job.to; i++) {
    const name = deviceName(i);
    const { certPem } = await signClientCertificate(pki.clientSigner, {
      publicKey: keys.publicKey,
      commonName: `device:${name}`,
      signerName: "flightctl.io/device-enrollment",
      orgId: DEFAULT_ORG_ID,
      deviceFingerprint: name,
      validitySeconds: 6 * 3600,
    });
    certs.push(certPem);
  }
  const signS = (performance.now() - t) / 1000;
  t = performance.now();
  const contexts = certs.map((cert) => createSecureContext({ ca, cert, key: keys.keyPem }));
  const contextsS = (performance.now() - t) / 1000;
  const sender = createSender(job.port, job.from, contexts, job.exportTimeoutS);
  const startNs = BigInt(Date.now()) * 1_000_000n;
  let windows = 0;
  let intervalS = 60;
  let lat: number[][] = [];
  let ok: number[] = [];
  const lag: number[] = [];
  const report = () => reply({ type: "sent", lat, ok, lag, statuses: [...sender.statuses] });

  async function scheduled(go: Go) {
    windows = go.windows;
    intervalS = go.intervalS;
    // Window 1 (the devices' first connections) spread over connectS, the others over intervalS.
    const start = performance.now() + (go.startAt - Date.now());
    lat = Array.from({ length: go.windows }, () => []);
    ok = new Array(go.windows).fill(0);
    const inflight = new Set<Promise<void>>();
    for (let w = 0; w < go.windows; w++) {
      const wStart = start + (w === 0 ? 0 : (go.connectS + (w - 1) * go.intervalS) * 1000);
      const span = (w === 0 ? go.connectS : go.intervalS) * 1000;
      for (let i = job.from; i < job.to; i++) {
        const due = wStart + (i / job.n) * span;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        lag.push(performance.now() - due);
        const p = sender.send(i, otlpBody(w, i, deviceName(i), startNs, go.intervalS)).then((r) => {
          lat[w].push(r.ms);
          if (r.ok) ok[w]++;
          inflight.delete(p);
        });
        inflight.add(p);
      }
      const wEnd = wStart + span;
      if (performance.now() < wEnd) await sleep(wEnd - performance.now());
      const behind = performance.now() - wEnd;
      reply({ type: "window", w, answered: lat[w].length, inflight: inflight.size, behindMs: behind, statuses: [...sender.statuses] });
    }
    await Promise.all(inflight);
    report();
  }

  async function flood(m: Flood) {
    sender.statuses.clear();
    const bodies = new Map<number, Uint8Array>();
    for (let i = job.from; i < job.to; i++) bodies.set(i, otlpBody(windows, i, deviceName(i), startNs, intervalS));
    let next = job.from;
    await Promise.all(
      Array.from({ length: m.concurrency }, async () => {
        while (next < job.to) {
          const i = next++;
          await sender.send(i, bodies.get(i)!);
        }
      }),
    );
    reply({ type: "flooded", statuses: [...sender.statuses] });
  }

  process.on("message", (m: Go | Flood | { type: "exit" } | { type: "report" }) => {
    if (m.type === "go") void scheduled(m);
    else if (m.type === "report") report();
    else if (m.type === "flood") void flood(m);
    else if (m.type === "exit") {
      sender.close();
      process.exit(0);
    }
  });
  reply({ type: "ready", signS, contextsS });
}

// The bench going away (killed, crashed) ends its senders too.
process.on("disconnect", () => process.exit(0));
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
