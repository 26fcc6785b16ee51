// Remote console end to end: two API processes sharing Postgres and a Redis this test runs itself; a real agent
// (in this process, real shell in a real PTY) streams to replica A, the user connects to replica B.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, type ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { create } from "@bufbuild/protobuf";
import pino from "pino";
import { stringify } from "yaml";
import { createAgent, type Agent } from "../agent/agent.js";
import { parseAgentConfig } from "../agent/config.js";
import { ConsoleService, type OpenDeviceConsoleRequest } from "../gen/flightctl/v1beta1/console_service_pb.js";
import { ConsoleFrameSchema, type ConsoleClose, type ConsoleFrame, type ConsoleSession } from "../gen/flightctl/v1beta1/console_pb.js";
import { EnrollmentConfigService } from "../gen/flightctl/v1beta1/enrollmentconfig_service_pb.js";
import { EnrollmentRequestService } from "../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { EventService } from "../gen/flightctl/v1beta1/event_service_pb.js";
import { VersionService } from "../gen/flightctl/v1beta1/version_service_pb.js";
import { createAsyncQueue } from "../lib/async-queue.js";
import { replayOutput } from "../server/console/asciicast.js";
import { freePort, startServerProcess } from "./bench/server-process.js";
import { createTestDatabase, type TestDatabase } from "./helpers/db.js";
import { startRedis } from "./helpers/redis.js";
import { waitFor } from "./helpers/agents.js";

type Server = Awaited<ReturnType<typeof startServerProcess>>;

const client = <S extends Parameters<typeof createClient>[0]>(s: Server, service: S) =>
  createClient(service, createGrpcTransport({ baseUrl: `https://localhost:${s.port}`, nodeOptions: { ca: readFileSync(s.caPath) } }));

const frame = (f: ConsoleFrame["frame"]) => create(ConsoleFrameSchema, { frame: f });
const stdin = (text: string) => frame({ case: "stdin", value: Buffer.from(text) });

/** A console session over the bidi stream, collecting what the user is shown. */
function openConsole(
  s: Server,
  headers: Record<string, string>,
  name: string,
  metadata: OpenDeviceConsoleRequest["message"] extends infer _ ? Record<string, unknown> : never,
  signal?: AbortSignal,
) {
  const input = createAsyncQueue<OpenDeviceConsoleRequest>();
  void input.push({ message: { case: "open", value: { name, metadata } } } as unknown as OpenDeviceConsoleRequest);
  const chunks: Buffer[] = [];
  let session: ConsoleSession | undefined;
  let close: ConsoleClose | undefined;
  const done = (async () => {
    for await (const r of client(s, ConsoleService).openDeviceConsole(input, { headers, signal })) {
      if (r.message.case === "session") session = r.message.value;
      else if (r.message.case === "frame") {
        const f = r.message.value.frame;
        if (f.case === "stdout" || f.case === "stderr") chunks.push(Buffer.from(f.value));
        if (f.case === "close") close = f.value;
      }
    }
    input.end();
  })();
  done.catch(() => {});
  return {
    send: (f: ConsoleFrame) => input.push({ message: { case: "frame", value: f } } as unknown as OpenDeviceConsoleRequest),
    output: () => Buffer.concat(chunks),
    text: () => Buffer.concat(chunks).toString("utf8"),
    session: () => session,
    close: () => close,
    done,
    until: (what: string, re: RegExp) => waitFor(what, async () => re.exec(Buffer.concat(chunks).toString("utf8")) ?? false),
  };
}

describe("remote console across two API replicas", () => {
  let db: TestDatabase;
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let a: Server;
  let b: Server;
  let agent: Agent;
  let name: string;
  let dir: string;
  let agentYaml: string;
  const root = () => join(dir, "root");

  before(async () => {
    db = await createTestDatabase();
    redis = await startRedis(await freePort());
    dir = mkdtempSync(join(tmpdir(), "fc-console-"));
    const dataDir = join(dir, "api");
    mkdirSync(dataDir);
    const env = { FLIGHTCTL_REDIS_URL: redis.url, FLIGHTCTL_CONSOLE_ATTACH_TIMEOUT_SECONDS: "15" };
    // One after the other: they share the data dir (the same PKI), which the first creates.
    a = await startServerProcess(db.url, dataDir, env);
    b = await startServerProcess(db.url, dataDir, env);
    const cfg = await client(a, EnrollmentConfigService).getEnrollmentConfig({}, { headers: a.headers });
    const yaml = stringify({
      "enrollment-service": {
        service: {
          server: `https://localhost:${a.agentPort}`,
          "certificate-authority-data": cfg.enrollmentService!.service!.certificateAuthorityData,
        },
        authentication: {
          "client-certificate-data": cfg.enrollmentService!.authentication!.clientCertificateData,
          "client-key-data": cfg.enrollmentService!.authentication!.clientKeyData,
        },
      },
      "data-dir": join(dir, "data"),
      "test-root-dir": root(),
      "status-update-interval": "2s",
      "enrollment-verify-interval": "200ms",
      "spec-fetch-error-base-delay": "200ms",
      "spec-fetch-error-max-delay": "2s",
    });
    agentYaml = yaml;
    agent = createAgent({
      config: parseAgentConfig(yaml),
      log: pino({ level: "silent" }),
      // A predictable shell for the assertions (no rc files, a fixed prompt).
      console: { enabled: true, shell: "/bin/sh" },
      onEnrollmentRequested: async (n) => {
        await client(a, EnrollmentRequestService).approveEnrollmentRequest(
          { name: n, approval: { approved: true } },
          { headers: a.headers },
        );
      },
    });
    await agent.start();
    name = agent.name;
    await waitFor("the device", () =>
      client(b, DeviceService)
        .getDevice({ name }, { headers: b.headers })
        .then((d) => !!d.status),
    );
  });

  after(async () => {
    await agent?.stop();
    await a?.close();
    await b?.close();
    await redis?.stop();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
    await assertNoOpenHandles();
  });

  test("typed input reaches a real shell on the device; the recording replays byte-equal to what was shown", async () => {
    const c = openConsole(b, b.headers, name, { tty: true, term: "xterm", initialDimensions: { width: 100, height: 30 } });
    await c.send(stdin("echo answer=$((6*7))\r"));
    await c.until("the shell's answer", /answer=42/);
    await c.send(stdin("exit 3\r"));
    await c.done;
    assert.equal(c.close()?.exitCode, 3);
    const sessionId = c.session()!.sessionId;
    assert.equal(c.session()!.deviceName, name);
    const rec = await client(b, ConsoleService).getConsoleRecording({ name, sessionId }, { headers: b.headers });
    const header = JSON.parse(rec.asciicast.split("\n")[0]);
    assert.equal(header.version, 2);
    assert.equal(header.width, 100);
    assert.equal(header.height, 30);
    assert.match(header.title, new RegExp(`user:bench on device ${name}`));
    assert.equal(replayOutput(rec.asciicast), c.text());
    assert.equal(rec.session?.close?.exitCode, 3);
    // Reading it was audited (through the other replica: the same database).
    const events = await client(a, EventService).listEvents(
      { options: { fieldSelector: `reason=ConsoleRecordingRead,involvedObject.name=${name}` } },
      { headers: a.headers },
    );
    assert.equal(events.items.length, 1);
    assert.match(events.items[0].message ?? "", new RegExp(sessionId));
  });

  test("a 1 MB burst comes back byte-exact, without a terminal and through one", async () => {
    const bytes = randomBytes(1024 * 1024);
    writeFileSync(join(root(), "burst.bin"), bytes);
    const raw = openConsole(b, b.headers, name, { tty: false, command: { command: "cat", args: ["burst.bin"] } });
    await raw.done;
    assert.equal(raw.close()?.exitCode, 0);
    assert.equal(raw.output().length, bytes.length);
    assert.ok(raw.output().equals(bytes), "the bytes differ");

    const text = bytes.toString("base64").replace(/.{76}/g, "$&\n");
    writeFileSync(join(root(), "burst.txt"), text);
    const tty = openConsole(b, b.headers, name, { tty: true });
    // No output processing (\n stays \n) and no echo, so the file's bytes are shown as they are.
    await tty.send(stdin("stty -opost -echo; cat burst.txt; echo; echo DONE-$((1+1))\r"));
    await tty.until("the burst", /DONE-2/);
    assert.ok(tty.text().includes(text), "the 1 MB burst through the terminal differs");
    await tty.send(frame({ case: "close", value: { reason: "" } as ConsoleClose }));
    await tty.done;
  });

  test("resize reaches the PTY", async () => {
    const c = openConsole(b, b.headers, name, { tty: true, initialDimensions: { width: 80, height: 24 } });
    await c.send(stdin("stty size\r"));
    await c.until("the initial size", /24 80/);
    await c.send(frame({ case: "resize", value: { width: 132, height: 50 } as never }));
    await c.send(stdin("stty size\r"));
    await c.until("the new size", /50 132/);
    await c.send(stdin("exit\r"));
    await c.done;
    const rec = await client(a, ConsoleService).getConsoleRecording({ name, sessionId: c.session()!.sessionId }, { headers: a.headers });
    assert.ok(rec.asciicast.includes(`"r","132x50"`), "the resize is in the recording");
  });

  test("killing the user side ends the shell on the device", async () => {
    const ac = new AbortController();
    const c = openConsole(b, b.headers, name, { tty: true }, ac.signal);
    await c.send(stdin("echo pid=$$\r"));
    const m = await c.until("the shell's pid", /pid=(\d+)/);
    const pid = Number(m[1]);
    assert.doesNotThrow(() => process.kill(pid, 0));
    ac.abort();
    await waitFor("the shell to end", async () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
  });

  test("browsers: output on one replica's server stream, input through the other replica", async () => {
    const ac = new AbortController();
    const chunks: Buffer[] = [];
    let sessionId = "";
    let close: ConsoleClose | undefined;
    const done = (async () => {
      for await (const r of client(b, ConsoleService).streamDeviceConsole(
        { open: { name, metadata: { tty: true } } },
        { headers: b.headers, signal: ac.signal },
      )) {
        if (r.message.case === "session") sessionId = r.message.value.sessionId;
        else if (r.message.case === "frame" && r.message.value.frame.case === "stdout")
          chunks.push(Buffer.from(r.message.value.frame.value));
        else if (r.message.case === "frame" && r.message.value.frame.case === "close") close = r.message.value.frame.value;
      }
    })();
    await waitFor("the session id", async () => sessionId);
    await client(a, ConsoleService).sendConsoleInput({ name, sessionId, frames: [stdin("echo via=$((40+2))\r")] }, { headers: a.headers });
    await waitFor("the output", async () => /via=42/.test(Buffer.concat(chunks).toString()));
    await client(a, ConsoleService).sendConsoleInput({ name, sessionId, frames: [stdin("exit 5\r")] }, { headers: a.headers });
    await done;
    assert.equal(close?.exitCode, 5);
  });

  test("viewers may not open consoles or read recordings", async () => {
    const viewer = { authorization: `Bearer ${await b.issuer.token("vic", { roles: ["flightctl-viewer"] })}` };
    const c = openConsole(b, viewer, name, { tty: true });
    await assert.rejects(c.done, (e: ConnectError) => e.code === Code.PermissionDenied);
    const list = await client(b, ConsoleService).listConsoleSessions({ name }, { headers: b.headers });
    assert.ok(list.sessions.length > 0);
    await assert.rejects(
      client(b, ConsoleService).getConsoleRecording({ name, sessionId: list.sessions[0].sessionId }, { headers: viewer }),
      (e: ConnectError) => e.code === Code.PermissionDenied,
    );
  });

  test("bad input is refused naming the field", async () => {
    const c = openConsole(b, b.headers, name, { tty: true, initialDimensions: { width: 0, height: 24 } });
    await assert.rejects(
      c.done,
      (e: ConnectError) => e.code === Code.InvalidArgument && /open\.metadata\.initialDimensions\.width/.test(e.message),
    );
  });

  test("flightctl console device/NAME -- command prints the output and exits with the command's code", async () => {
    const configDir = join(dir, "cli");
    mkdirSync(configDir, { recursive: true });
    writeFileSync(
      join(configDir, "client.yaml"),
      stringify({
        service: { server: `https://localhost:${b.port}`, "certificate-authority-data": readFileSync(b.caPath).toString("base64") },
        authentication: { token: b.headers.authorization.slice(7) },
      }),
    );
    const cli = spawn(
      process.execPath,
      ["bin/flightctl.js", "console", `device/${name}`, "--config-dir", configDir, "--", "sh", "-c", "uname -s; echo oops >&2; exit 7"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    cli.stdout!.on("data", (d) => (out += d));
    cli.stderr!.on("data", (d) => (err += d));
    const code = await new Promise<number | null>((resolve) => cli.on("close", resolve));
    assert.equal(code, 7, err);
    assert.equal(out, "Linux\n");
    assert.equal(err, "oops\n");
  });

  test("a session opened while the device is offline reaches it when its agent connects again", async () => {
    await agent.stop();
    // The announcement goes out while no stream of the device is open anywhere.
    const c = openConsole(b, b.headers, name, { tty: false, command: { command: "sh", args: ["-c", "echo back-online"] } });
    await waitFor("the session to be recorded", async () =>
      (await client(b, ConsoleService).listConsoleSessions({ name }, { headers: b.headers })).sessions.some(
        (x) => !x.attachedAt && !x.endedAt,
      ),
    );
    await new Promise((r) => setTimeout(r, 500));
    // The same device (same data dir and certificate) starts again: its new stream carries the waiting session.
    agent = createAgent({
      config: parseAgentConfig(agentYaml),
      log: pino({ level: "silent" }),
      console: { enabled: true, shell: "/bin/sh" },
    });
    await agent.start();
    await c.done;
    assert.equal(c.text(), "back-online\n");
    assert.equal(c.close()?.exitCode, 0);
  });

  test("with Redis down the console fails clearly while the rest of the API keeps serving", async () => {
    await redis.stop();
    const c = openConsole(b, b.headers, name, { tty: true });
    await assert.rejects(
      c.done,
      (e: ConnectError) => e.code === Code.Unavailable && /console relay unavailable: cannot reach Redis/.test(e.message),
    );
    assert.ok((await client(b, VersionService).getVersion({}, { headers: b.headers })).version);
    assert.equal((await client(b, DeviceService).getDevice({ name }, { headers: b.headers })).metadata?.name, name);
  });
});
