// The load generator of bench:status-ingest, in its own process (its CPU is measured apart from the server's): devices
// from the identities file, each on its own mTLS connection with the agent's clients (agent/clients.ts: one HTTP/2
// connection, reports on one StreamDeviceStatus stream, each waiting for its acknowledgement, as the agent sends them).
// Each report changes the status (systemInfo.customInfo.benchSeq counts the device's reports), so each is a write.
// Talks to the bench over IPC:
//   → {type: "ready", connectS, failed}        every device connected and its first report (benchSeq 1) stored
//   ← {type: "go", seconds, perDeviceS}        each device reports as fast as acknowledged, at most perDeviceS a second
//   → {type: "done", acked, failed, seqSum, errors}  seqSum: Σ over devices of the last acknowledged benchSeq
import { readFileSync } from "node:fs";
import { arch } from "node:os";
import { performance } from "node:perf_hooks";
import { fromJson } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { connectAgent, type AgentClients } from "../../agent/clients.js";
import { DeviceSchema, type DeviceStatusJson } from "../../gen/flightctl/v1beta1/device_pb.js";

interface Job {
  server: string;
  caPem: string;
  identitiesFile: string;
}
type Go = { type: "go"; seconds: number; perDeviceS: number };

const job = JSON.parse(process.env.BENCH_LOAD_JOB ?? "{}") as Job;
const reply = (m: unknown) => process.send?.(m);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the agent reports for a simulated device running rendered version 1 (agent/agent.ts buildStatus), numbered. */
function status(name: string, seq: number): DeviceStatusJson {
  return {
    systemInfo: {
      agentVersion: "bench",
      architecture: arch(),
      operatingSystem: "linux",
      bootID: `boot-${name.slice(0, 8)}`,
      hostname: name.slice(0, 12),
      customInfo: { benchSeq: String(seq) },
    },
    conditions: [{ type: "Updating", status: "False", reason: "Updated", message: "" }],
    config: { renderedVersion: "1" },
    applications: [],
    applicationsSummary: { status: "NoApplications", info: "" },
    resources: { cpu: "Healthy", memory: "Healthy", disk: "Healthy" },
    systemd: [],
    os: { image: "", imageDigest: "" },
    summary: { status: "Online" },
  };
}

const identities = JSON.parse(readFileSync(job.identitiesFile, "utf8")) as { name: string; keyPem: string; certPem: string }[];
const devices = identities.map((id) => ({ ...id, seq: 0, lastAcked: 0 }));
let clients: AgentClients[] = [];
let failed = 0;
const errors = new Map<string, number>();

async function send(i: number): Promise<boolean> {
  const d = devices[i];
  const seq = d.seq + 1;
  try {
    await clients[i].status.send(
      {
        name: d.name,
        device: fromJson(DeviceSchema, {
          apiVersion: "flightctl.io/v1beta1",
          kind: "Device",
          metadata: { name: d.name },
          status: status(d.name, seq),
        }),
      },
      60_000,
    );
    d.seq = seq;
    d.lastAcked = seq;
    return true;
  } catch (e) {
    // The report's seq may or may not have been stored; the next one takes a new number either way.
    d.seq = seq;
    failed++;
    const msg = ConnectError.from(e).message.slice(0, 120);
    errors.set(msg, (errors.get(msg) ?? 0) + 1);
    return false;
  }
}

async function connectAll() {
  const t = performance.now();
  clients = devices.map((d) => connectAgent(job.server, job.caPem, d.certPem, d.keyPem));
  // 50 handshakes at a time: all at once only measures a TLS storm.
  let next = 0;
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (next < devices.length) await send(next++);
    }),
  );
  reply({ type: "ready", connectS: (performance.now() - t) / 1000, failed });
}

async function run(go: Go) {
  failed = 0;
  errors.clear();
  const end = performance.now() + go.seconds * 1000;
  const gapMs = 1000 / go.perDeviceS;
  let acked = 0;
  await Promise.all(
    devices.map(async (_, i) => {
      // Spread the first reports over one gap, so the devices do not move in lockstep.
      await sleep(Math.random() * gapMs);
      while (performance.now() < end) {
        const t = performance.now();
        if (await send(i)) acked++;
        else await sleep(1000);
        const wait = gapMs - (performance.now() - t);
        if (wait > 0) await sleep(wait);
      }
    }),
  );
  const seqSum = devices.reduce((a, d) => a + d.lastAcked, 0);
  reply({ type: "done", acked, failed, seqSum, errors: Object.fromEntries(errors) });
}

process.on("message", (m: Go | { type: "exit" }) => {
  if (m.type === "go") void run(m);
  else {
    for (const c of clients) c.close();
    process.exit(0);
  }
});
void connectAll();
