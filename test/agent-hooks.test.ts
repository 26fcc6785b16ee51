// The agent's update order around the apply steps, with a real API and a real in-process agent whose device root is a
// temp directory and whose commands are recorded: lifecycle hooks (files in the root overriding packaged ones, path
// conditions and template variables, the built-in daemon-reload, a failing beforeupdating hook rolling back,
// afterrebooting hooks after a boot id change; the OS switch and its reboot hooks are in test/os-update.test.ts) and
// image prefetch (a failed pull is retried, not failed). The hook runner also runs real commands (env, workDir,
// timeout) through the real executor.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import pino from "pino";
import { createAgent, type Agent } from "../agent/agent.js";
import type { ApplyError } from "../agent/apply.js";
import { parseAgentConfig, type AgentConfig } from "../agent/config.js";
import { realExecutor, recordingExecutor, rootedFs, type RecordingExecutor } from "../agent/host.js";
import { runHooks, splitCommandLine } from "../agent/hooks.js";
import { DeviceSchema } from "../gen/flightctl/v1beta1/device_pb.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { EnrollmentRequestService } from "../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { agentConfigYaml, userClient, waitFor } from "./helpers/agents.js";

const silent = pino({ level: "silent" });
let t: TestApi;
let admin: string;
let dir: string;
const auth = () => ({ headers: { authorization: `Bearer ${admin}` } });
const devices = () => userClient(t, DeviceService);

before(async () => {
  t = await startTestApi({ worker: true, heartbeatMs: 1000 });
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  dir = mkdtempSync(join(tmpdir(), "fc-agent-hooks-"));
});

after(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

/** Writes `text` at device path `path` under `root` (hook files, the boot id: what is on the device, not in the spec). */
function put(root: string, path: string, text: string) {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}

describe("an agent's update around its apply steps", () => {
  const root = () => join(dir, "device", "root");
  let config: AgentConfig;
  let agent: Agent;
  let exec: RecordingExecutor;
  let name: string;
  let version = 0;
  /** How many commands had run when the newest spec was set. */
  let mark = 0;

  const start = async () => {
    agent = createAgent({
      config,
      log: silent,
      exec,
      console: { enabled: false },
      onEnrollmentRequested: async (n) => {
        await userClient(t, EnrollmentRequestService).approveEnrollmentRequest({ name: n, approval: { approved: true } }, auth());
      },
    });
    await agent.start();
    name = agent.name;
  };
  const status = async () => (await devices().getDevice({ name }, auth())).status!;
  const updating = async () => (await status()).conditions.find((c) => c.type === "Updating");
  /** Replaces the device spec: one new rendered version. */
  const setSpec = async (spec: JsonObject) => {
    version++;
    mark = exec.commands.length;
    await devices().replaceDevice(
      { name, device: fromJson(DeviceSchema, { apiVersion: "flightctl.io/v1beta1", kind: "Device", metadata: { name }, spec }) },
      auth(),
    );
  };
  /** Waits for the agent's verdict on the newest version; returns the commands it ran for it. */
  const outcome = async (reason: "Updated" | "Error") => {
    const c = await waitFor(`version ${version}: ${reason}`, async () => {
      const u = await updating();
      return u?.status === "False" && new RegExp(`(Updated to|Failed to update to) version ${version}\\b`).test(u.message ?? "") && u;
    });
    assert.equal(c.reason, reason, c.message);
    return { message: c.message ?? "", commands: exec.commands.slice(mark) };
  };
  const files = (list: Record<string, string>) => ({
    config: [{ name: "files", inline: Object.entries(list).map(([path, content]) => ({ path, content })) }],
  });

  before(async () => {
    exec = recordingExecutor();
    config = parseAgentConfig(await agentConfigYaml(t, admin, join(dir, "device", "data"), root()), {
      updateRetryBaseDelayMs: 300,
      updateRetryMaxDelayMs: 1000,
    });
    put(root(), "/proc/sys/kernel/random/boot_id", "boot-1\n");
    // A packaged hook overridden by the same-named file in /etc, and one that stays.
    put(root(), "/usr/lib/flightctl/hooks.d/afterupdating/10-example.yaml", "- run: echo packaged\n");
    put(
      root(),
      "/etc/flightctl/hooks.d/afterupdating/10-example.yaml",
      "- if: [{ path: /etc/example/, op: [created] }]\n  run: echo created ${CreatedFiles} in ${Path}\n",
    );
    put(root(), "/usr/lib/flightctl/hooks.d/afterupdating/20-always.yaml", "- run: echo always\n");
    await start();
    const first = await waitFor("the first version applied", async () => {
      const s = await status();
      return s.updated?.status === "UpToDate" && Number(s.config?.renderedVersion) > 0 && s;
    });
    version = Number(first.config!.renderedVersion);
  });

  after(async () => {
    await agent?.stop();
  });

  test("hooks in /etc override same-named /usr/lib ones; an if-created action runs only when a file there was created", async () => {
    await setSpec(files({ "/etc/example/a.conf": "one\n" }));
    let { commands } = await outcome("Updated");
    assert.ok(commands.includes("echo created /etc/example/a.conf in /etc/example/"), commands.join("\n"));
    assert.ok(commands.includes("echo always"));
    assert.ok(!commands.includes("echo packaged"), "the /usr/lib file of the same name is replaced");
    assert.ok(!commands.includes("systemctl daemon-reload"), "nothing under /etc/systemd/system changed");

    // An unrelated file, then an update (not a creation) under /etc/example/: the conditional action stays quiet.
    await setSpec(files({ "/etc/example/a.conf": "one\n", "/etc/other.conf": "x\n" }));
    ({ commands } = await outcome("Updated"));
    assert.ok(!commands.some((c) => c.startsWith("echo created")), commands.join("\n"));
    assert.ok(commands.includes("echo always"));
    await setSpec(files({ "/etc/example/a.conf": "two\n", "/etc/other.conf": "x\n" }));
    ({ commands } = await outcome("Updated"));
    assert.ok(!commands.some((c) => c.startsWith("echo created")), commands.join("\n"));
    assert.equal(readFileSync(join(root(), "etc/example/a.conf"), "utf8"), "two\n");
  });

  test("the built-in afterupdating hook reloads systemd when a file under /etc/systemd/system/ changes", async () => {
    await setSpec(
      files({
        "/etc/example/a.conf": "two\n",
        "/etc/other.conf": "x\n",
        "/etc/systemd/system/demo.service": "[Service]\nExecStart=/bin/true\n",
      }),
    );
    const { commands } = await outcome("Updated");
    assert.deepEqual(
      commands.filter((c) => c === "systemctl daemon-reload"),
      ["systemctl daemon-reload"],
    );
  });

  test("a failing beforeupdating hook rolls the update back with an Error naming the hook; the previous files stay", async () => {
    const hook = "/etc/flightctl/hooks.d/beforeupdating/50-check.yaml";
    put(root(), hook, "- if: [{ path: /etc/example/a.conf, op: [updated] }]\n  run: /usr/local/bin/validate ${UpdatedFiles}\n");
    exec.failOn = /validate/;
    try {
      const spec = files({
        "/etc/example/a.conf": "three\n",
        "/etc/new.conf": "n\n",
        "/etc/systemd/system/demo.service": "[Service]\nExecStart=/bin/true\n",
      });
      await setSpec(spec);
      const { message, commands } = await outcome("Error");
      assert.ok(commands.includes("/usr/local/bin/validate /etc/example/a.conf"), commands.join("\n"));
      assert.match(
        message,
        new RegExp(
          `Failed to update to version ${version}: hooks ${hook}: beforeupdating action #1 "/usr/local/bin/validate /etc/example/a.conf" failed`,
        ),
      );
      assert.equal(readFileSync(join(root(), "etc/example/a.conf"), "utf8"), "two\n");
      assert.throws(() => readFileSync(join(root(), "etc/new.conf")));
      const s = await status();
      assert.equal(s.config?.renderedVersion, String(version - 1));
      assert.ok(agent.specs().failed.has(version), "the failed version is not tried again");
    } finally {
      exec.failOn = undefined;
      rmSync(join(root(), hook));
    }
  });

  test("a failed image pull keeps the version retryable and reports Preparing; a later attempt applies it", async () => {
    const image = "quay.io/example/web:2";
    exec.missingImages.add(image);
    exec.failOn = /^podman pull quay\.io\/example\/web:2$/;
    await setSpec({ ...files({ "/etc/web.conf": "port=8080\n" }), applications: [{ name: "web", appType: "container", image }] });
    const preparing = await waitFor("Preparing with the image named", async () => {
      const u = await updating();
      return u?.status === "True" && u.reason === "Preparing" && u.message?.includes(image) && u;
    });
    assert.match(preparing.message ?? "", /pull failed/);
    assert.equal((await status()).config?.renderedVersion, String(version - 2), "still the last good version");
    assert.ok(!agent.specs().failed.has(version), "a pull failure does not fail the version");
    assert.throws(() => readFileSync(join(root(), "etc/web.conf")), "nothing is applied before the images are there");
    // Let it retry on its own a time or two, then let the registry answer.
    await waitFor("a second pull attempt", async () => exec.commands.filter((c) => c === `podman pull ${image}`).length >= 2);
    exec.failOn = undefined;
    await outcome("Updated");
    assert.equal(readFileSync(join(root(), "etc/web.conf"), "utf8"), "port=8080\n");
    assert.ok(!exec.missingImages.has(image));
  });

  test("afterrebooting hooks run at start when the boot id changed, not on a plain restart", async () => {
    put(root(), "/etc/flightctl/hooks.d/afterrebooting/10-up.yaml", "- if: [rebooted == true]\n  run: echo up\n");
    await agent.stop();
    exec = recordingExecutor();
    await start();
    assert.ok(!exec.commands.includes("echo up"), "same boot");
    await agent.stop();
    put(root(), "/proc/sys/kernel/random/boot_id", "boot-2\n");
    exec = recordingExecutor();
    await start();
    assert.ok(exec.commands.includes("echo up"), exec.commands.join("\n"));
    await waitFor("the new boot id reported", async () => (await status()).systemInfo?.bootId === "boot-2");
  });
});

describe("the hook runner on this machine", () => {
  const root = () => join(dir, "runner");

  test("splits command lines with quotes and escapes, no shell", () => {
    assert.deepEqual(splitCommandLine(`/bin/sh -c 'kill -HUP \${FLIGHTCTL_AGENT_PID}'`), [
      "/bin/sh",
      "-c",
      "kill -HUP ${FLIGHTCTL_AGENT_PID}",
    ]);
    assert.deepEqual(splitCommandLine(`echo "a \\"b\\"" c\\ d $HOME`), ["echo", 'a "b"', "c d", "$HOME"]);
    assert.throws(() => splitCommandLine("systemctl restart a | tee log"), /use \/bin\/sh -c/);
  });

  test("runs real commands with envVars in workDir, under the timeout", async () => {
    const fs = rootedFs(root());
    put(
      root(),
      "/etc/flightctl/hooks.d/afterupdating/50-env.yaml",
      "- run: /bin/sh -c 'echo \"$GREETING $FLIGHTCTL_AGENT_PID\" > out.txt'\n  envVars: { GREETING: hello }\n  workDir: /var/app\n",
    );
    mkdirSync(join(root(), "var/app"), { recursive: true });
    await runHooks(fs, realExecutor, silent, "afterupdating");
    assert.equal(readFileSync(join(root(), "var/app/out.txt"), "utf8"), `hello ${process.pid}\n`);

    put(root(), "/etc/flightctl/hooks.d/afterupdating/50-env.yaml", "- run: sleep 5\n  timeout: 200ms\n");
    const began = Date.now();
    await assert.rejects(
      runHooks(fs, realExecutor, silent, "afterupdating"),
      (e: ApplyError) => e.component === "hooks" && /timed out/.test(e.message),
    );
    assert.ok(Date.now() - began < 3000);
  });

  test("an invalid hook file is an error naming the file; a missing program is skipped", async () => {
    const fs = rootedFs(root());
    const exec = recordingExecutor();
    put(root(), "/etc/flightctl/hooks.d/beforeupdating/10-bad.yaml", "- run: echo hi\n  if: [{ path: /etc/x/, op: [renamed] }]\n");
    await assert.rejects(
      runHooks(fs, exec, silent, "beforeupdating"),
      (e: ApplyError) => e.element === "/etc/flightctl/hooks.d/beforeupdating/10-bad.yaml" && /op: must list/.test(e.message),
    );
    rmSync(join(root(), "etc/flightctl/hooks.d/beforeupdating/10-bad.yaml"));
    put(
      root(),
      "/etc/flightctl/hooks.d/beforeupdating/20-missing.yaml",
      "- run: /nonexistent/program --flag\n- run: /bin/sh -c 'echo ran > ran.txt'\n",
    );
    await runHooks(fs, realExecutor, silent, "beforeupdating");
    assert.equal(readFileSync(join(root(), "ran.txt"), "utf8"), "ran\n");
  });
});
