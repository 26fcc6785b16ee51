// What the agent tells a person: each step of enrollment and of an update at info, and the failures no retry fixes
// (a service CA it does not trust, a certificate the service refuses) at error on every retry, saying what to do.
// The simulator counts those failures, keeps its agents' state per service and never hands one index to two runs.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pino from "pino";
import { parse, stringify } from "yaml";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { agentConfigYaml, waitFor } from "./helpers/agents.js";
import { serviceStateDir, startSimulator } from "../agent/simulator.js";
import { parseAgentConfig, type AgentConfig } from "../agent/config.js";

let t: TestApi;
let admin: string;
let dir: string;
let config: AgentConfig;
/** A self-signed certificate and key no service here issued. */
let foreign: { cert: string; key: string };

before(async () => {
  t = await startTestApi({ worker: true });
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  dir = mkdtempSync(join(tmpdir(), "fc-agent-logs-"));
  config = parseAgentConfig(await agentConfigYaml(t, admin, "/unused", "/unused"));
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=another-service", "-days", "1"].concat(
      ["-keyout", join(dir, "foreign.key"), "-out", join(dir, "foreign.crt")],
    ),
    { stdio: "ignore" },
  );
  foreign = { cert: readFileSync(join(dir, "foreign.crt"), "utf8"), key: readFileSync(join(dir, "foreign.key"), "utf8") };
});

after(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

type Line = { level: number; msg: string; [k: string]: unknown };

/** A pino logger at `level` whose lines are kept, parsed. */
function captured(level = "info") {
  const lines: Line[] = [];
  const log = pino({ level }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines, has: (re: RegExp, lvl?: number) => lines.find((l) => re.test(l.msg) && (lvl === undefined || l.level === lvl)) };
}

test("enrollment, approval, the certificate, the stream, the spec and each apply phase are logged at info", async () => {
  const { log, lines, has } = captured("info");
  const sim = await startSimulator({
    count: 1,
    config,
    baseDir: join(dir, "ok"),
    approve: { api: `https://localhost:${t.api.port}`, caPem: readFileSync(t.api.caPath, "utf8"), token: admin },
    summaryIntervalMs: 0,
    log,
  });
  try {
    await sim.started();
    await waitFor("the applied first version", async () => has(/^updated$/));
    assert.ok(has(/^agent starting$/, 30));
    assert.ok(has(/^enrollment request sent$/, 30));
    const approved = has(/^enrollment approved; management certificate received$/, 30);
    assert.ok(approved, "approval logged");
    assert.ok(Date.parse(String(approved.expires)) > Date.now(), "with the certificate's expiry");
    assert.ok(has(/^stream connected$/, 30));
    assert.ok(has(/^spec version received$/, 30));
    for (const phase of ["prefetch", "beforeupdating hooks", "applications", "config files", "os", "afterupdating hooks"]) {
      const l = has(new RegExp(`^apply: ${phase} done$`), 30);
      assert.ok(l, phase);
      assert.equal(typeof l.ms, "number", `${phase} has its duration`);
    }
    // Every line of an agent names its device.
    const device = sim.agents[0].name;
    assert.ok(lines.filter((l) => /enrollment|stream|apply/.test(l.msg)).every((l) => l.device === device));
  } finally {
    await sim.stop();
  }
});

describe("failures no retry fixes", () => {
  test("a service CA the agent does not trust: error on each retry, counted by the simulator", async () => {
    const { log, lines } = captured("info");
    const sim = await startSimulator({
      count: 2,
      config: { ...config, caPem: foreign.cert },
      baseDir: join(dir, "untrusted"),
      summaryIntervalMs: 200,
      log,
    });
    try {
      await waitFor("two agents counted as not trusting the service", async () => sim.summary().serverUntrusted === 2);
      await waitFor(
        "retries logged again",
        async () => lines.filter((l) => l.level === 50 && /certificate-authority-data/.test(l.msg)).length >= 4,
      );
      const e = lines.find((l) => l.level === 50 && /certificate-authority-data/.test(l.msg))!;
      assert.match(e.msg, /flightctl enrollmentconfig/);
      assert.equal(typeof e.retryInS, "number");
      await waitFor("the summary at error", async () => lines.find((l) => l.level === 50 && l.serverUntrusted === 2));
    } finally {
      await sim.stop();
    }
  });

  test("an enrollment certificate the service refuses: error saying what to do", async () => {
    const { log, lines } = captured("info");
    const sim = await startSimulator({
      count: 1,
      config: { ...config, enrollmentCertPem: foreign.cert, enrollmentKeyPem: foreign.key },
      baseDir: join(dir, "rejected"),
      summaryIntervalMs: 0,
      log,
    });
    try {
      await waitFor("the agent counted as refused", async () => sim.summary().certificateRejected === 1).catch((e: Error) => {
        throw new Error(`${e.message}; logged: ${JSON.stringify(lines.filter((l) => l.level >= 40))}`);
      });
      const e = lines.find((l) => l.level === 50 && /refuses this agent's enrollment certificate/.test(l.msg));
      assert.ok(e, JSON.stringify(lines.filter((l) => l.level >= 40)));
    } finally {
      await sim.stop();
    }
  });
});

test("flightctl-agent simulate against a service that is not the config's: a new state dir, errors and an error summary", async () => {
  const base = join(dir, "cli-sim");
  const cfgFile = join(dir, "other-service.yaml");
  const doc = parse(await agentConfigYaml(t, admin, "/unused", "/unused"));
  doc["enrollment-service"].service["certificate-authority-data"] = Buffer.from(foreign.cert).toString("base64");
  writeFileSync(cfgFile, stringify(doc));
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "agent/main.ts", "simulate", "--config", cfgFile, "--count", "2", "--data-dir", base, "--summary-interval", "1"],
    { env: { ...process.env, LOG_LEVEL: "" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (c: string) => (out += c));
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (out += c));
  const closed = new Promise((r) => child.on("close", r));
  try {
    const lines = () =>
      out
        .split("\n")
        .slice(0, -1) // the last piece may be a line still being written
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Line);
    await waitFor("the error summary", async () => lines().find((l) => l.level === 50 && l.serverUntrusted === 2), 30_000).catch(
      (e: Error) => {
        throw new Error(`${e.message}; output:\n${out}`);
      },
    );
    const agentErrors = lines().filter((l) => l.level === 50 && typeof l.device === "string");
    assert.ok(agentErrors.length >= 2, "each agent's error is shown (agents log at warn in simulate)");
    assert.ok(!lines().some((l) => l.msg === "agent starting"), "agents' info lines are not");
    const stateDir = serviceStateDir(base, parseAgentConfig(readFileSync(cfgFile, "utf8")));
    assert.ok(lines().some((l) => l.stateDir === stateDir));
    assert.ok(existsSync(join(stateDir, "agent-00000", "data", "certs", "agent.key")));
    assert.equal(statSync(join(stateDir, "agent-00000", "data", "certs", "agent.key")).mode & 0o777, 0o600);
  } finally {
    child.kill("SIGTERM");
    await closed;
  }
});

describe("simulator state", () => {
  test("kept per service: another CA or URL is another directory", () => {
    const a = serviceStateDir(".data/simulator", config);
    assert.notEqual(a, serviceStateDir(".data/simulator", { ...config, caPem: foreign.cert }));
    assert.notEqual(a, serviceStateDir(".data/simulator", { ...config, server: "https://other:7443" }));
    assert.equal(a, serviceStateDir(".data/simulator", { ...config }));
  });

  test("two simulators beside each other get different indexes; a later run takes the freed ones", async () => {
    const base = join(dir, "shared");
    const opts = { config: { ...config, caPem: foreign.cert }, baseDir: base, summaryIntervalMs: 0, log: pino({ level: "silent" }) };
    const first = await startSimulator({ ...opts, count: 2 });
    const second = await startSimulator({ ...opts, count: 2 });
    try {
      assert.deepEqual(first.indexes, [0, 1]);
      assert.deepEqual(second.indexes, [2, 3]);
    } finally {
      await first.stop();
    }
    const third = await startSimulator({ ...opts, count: 1, indexOffset: 0 });
    const fourth = await startSimulator({ ...opts, count: 1, indexOffset: 10 });
    try {
      assert.deepEqual(third.indexes, [0]);
      assert.deepEqual(fourth.indexes, [10]);
    } finally {
      await Promise.all([second.stop(), third.stop(), fourth.stop()]);
    }
  });
});
