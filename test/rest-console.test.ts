// flightctl's console WebSocket route (/ws/v1/devices/{name}/console, subprotocol v5.channel.k8s.io) against the real
// API server and a real agent in this process (a real shell in a real PTY): typing, output on channel 1, resize,
// stdin close, the exit status on channel 3, the user leaving; and the refusals before the upgrade.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import pino from "pino";
import WebSocket from "ws";
import { createAgent, type Agent } from "../agent/agent.js";
import { parseAgentConfig } from "../agent/config.js";
import { ConsoleService } from "../gen/flightctl/v1beta1/console_service_pb.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { EnrollmentRequestService } from "../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { agentConfigYaml, userClient, waitFor } from "./helpers/agents.js";
import { startTestApi, type TestApi } from "./helpers/api.js";

const V5 = "v5.channel.k8s.io";
let t: TestApi;
let agent: Agent;
let dir: string;
let name: string;
let admin: string;
const auth = (token: string) => ({ authorization: `Bearer ${token}` });

/** A refusal before the upgrade: its HTTP status and body. */
type Refusal = { status: number; body: string };
/** An open console: what arrived on each channel, the socket's close code. */
type Console = {
  ws: WebSocket;
  text: (channel: number) => string;
  until: (what: string, channel: number, re: RegExp) => Promise<RegExpExecArray>;
  send: (channel: number, data: string | Buffer) => void;
  closed: Promise<number>;
};

function connect(path: string, headers: Record<string, string>, protocols: string[] = [V5]): Promise<Console | Refusal> {
  const ws = new WebSocket(`wss://localhost:${t.api.port}${path}`, protocols, { ca: readFileSync(t.api.caPath), headers });
  const chunks = new Map<number, Buffer[]>();
  const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
  ws.on("message", (data: Buffer) => {
    const list = chunks.get(data[0]) ?? [];
    list.push(data.subarray(1));
    chunks.set(data[0], list);
  });
  const text = (channel: number) => Buffer.concat(chunks.get(channel) ?? []).toString("utf8");
  return new Promise((resolve, reject) => {
    ws.once("open", () =>
      resolve({
        ws,
        text,
        closed,
        until: (what, channel, re) => waitFor(what, async () => re.exec(text(channel)) ?? false, 30_000),
        send: (channel, data) => ws.send(Buffer.concat([Buffer.of(channel), Buffer.from(data)])),
      }),
    );
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once("error", reject);
  });
}

async function open(metadata: object, headers = auth(admin)): Promise<Console> {
  const c = await connect(`/ws/v1/devices/${name}/console?metadata=${encodeURIComponent(JSON.stringify(metadata))}`, headers);
  assert.ok("ws" in c, `refused: ${JSON.stringify(c)}`);
  assert.equal(c.ws.protocol, V5);
  return c;
}

async function refused(path: string, headers: Record<string, string>, protocols?: string[]): Promise<Refusal> {
  const r = await connect(path, headers, protocols);
  assert.ok(!("ws" in r), `${path} was upgraded`);
  return r;
}

before(async () => {
  t = await startTestApi();
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  dir = mkdtempSync(join(tmpdir(), "fc-rest-console-"));
  agent = createAgent({
    config: parseAgentConfig(await agentConfigYaml(t, admin, join(dir, "data"), join(dir, "root"))),
    log: pino({ level: "silent" }),
    console: { enabled: true, shell: "/bin/sh" }, // a predictable shell: no rc files
    onEnrollmentRequested: async (n) => {
      await userClient(t, EnrollmentRequestService).approveEnrollmentRequest(
        { name: n, approval: { approved: true } },
        { headers: auth(admin) },
      );
    },
  });
  await agent.start();
  name = agent.name;
  await waitFor("the device's status", () =>
    userClient(t, DeviceService)
      .getDevice({ name }, { headers: auth(admin) })
      .then((d) => !!d.status),
  );
});

after(async () => {
  await agent?.stop();
  await t?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

test("a TTY session: typed command, output on channel 1, resize, the exit status on channel 3", async () => {
  const c = await open({ tty: true, term: "xterm", initialDimensions: { Width: 80, Height: 24 } });
  c.send(0, "echo hello-$((6*7))\r");
  await c.until("the command's output", 1, /hello-42/);
  c.send(0, "stty size\r");
  await c.until("the initial size", 1, /24 80/);
  c.send(4, JSON.stringify({ Width: 132, Height: 50 }));
  c.send(0, "stty size\r");
  await c.until("the new size", 1, /50 132/);
  c.send(0, "exit 3\r");
  assert.equal(await c.closed, 1000);
  const status = JSON.parse(c.text(3));
  assert.equal(status.status, "Failure");
  assert.equal(status.reason, "NonZeroExitCode");
  assert.deepEqual(status.details.causes, [{ reason: "ExitCode", message: "3" }]);
  // Recorded as any console session is, with the resize.
  const consoles = userClient(t, ConsoleService);
  const { sessions } = await consoles.listConsoleSessions({ name }, { headers: auth(admin) });
  assert.equal(sessions.length, 1);
  const rec = await waitFor("the recording", async () => {
    const r = await consoles.getConsoleRecording({ name, sessionId: sessions[0].sessionId }, { headers: auth(admin) });
    return r.asciicast.includes("hello-42") && r;
  });
  assert.ok(rec.asciicast.includes(`"r","132x50"`), "the resize is in the recording");
});

test("a command without a TTY: stdin, its close (channel 255), success on channel 3", async () => {
  const c = await open({ command: { command: "sh", args: ["-c", "tr a-z A-Z; echo err >&2"] } });
  c.send(0, "shout\n");
  c.send(255, Buffer.of(0));
  assert.equal(await c.closed, 1000);
  assert.match(c.text(1), /SHOUT/);
  assert.match(c.text(2), /err/);
  assert.deepEqual(JSON.parse(c.text(3)), { metadata: {}, status: "Success" });
});

test("the user closing the socket ends the session on the device", async () => {
  const c = await open({ tty: true });
  c.send(0, "echo pid=$$\r");
  const pid = Number((await c.until("the shell's pid", 1, /pid=(\d+)/))[1]);
  c.ws.close();
  await c.closed;
  await waitFor("the shell to end", async () => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  });
  const list = await userClient(t, ConsoleService).listConsoleSessions({ name }, { headers: auth(admin) });
  assert.ok(list.sessions.length >= 3);
  await waitFor("every session ended", async () =>
    (await userClient(t, ConsoleService).listConsoleSessions({ name }, { headers: auth(admin) })).sessions.every((s) => s.endedAt),
  );
});

test("refused before the upgrade: no token 401, a viewer 403, an unknown device 404, bad input 400", async () => {
  const path = `/ws/v1/devices/${name}/console`;
  assert.equal((await refused(path, {})).status, 401);
  const viewer = await t.issuer.token("vic", { roles: ["flightctl-viewer"], organizations: ["default"] });
  const forbidden = await refused(path, auth(viewer));
  assert.equal(forbidden.status, 403);
  assert.match(forbidden.body, /devices\/console/);
  const unknown = await refused("/ws/v1/devices/no-such-device/console", auth(admin));
  assert.equal(unknown.status, 404);
  assert.match(unknown.body, /no-such-device/);
  const wrong = await refused(path, auth(admin), ["v4.channel.k8s.io"]);
  assert.equal(wrong.status, 400);
  assert.match(wrong.body, /v5\.channel\.k8s\.io only \(offered v4\.channel\.k8s\.io\)/);
  assert.equal((await refused(path, auth(admin), [])).status, 400);
  const badMeta = await refused(`${path}?metadata=%7Bnot-json`, auth(admin));
  assert.equal(badMeta.status, 400);
  assert.match(badMeta.body, /metadata: not valid JSON/);
  assert.equal((await refused(`${path}?shell=1`, auth(admin))).status, 400);
  assert.equal((await refused(`/ws/v1/devices/${name}/applications/web/console`, auth(admin))).status, 404);
});
