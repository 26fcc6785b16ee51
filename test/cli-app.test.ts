// The real flightctl binary: `app start|stop|restart` on a device's and a fleet's application and
// `get device/<name> --rendered`, against a real API with its worker rendering, so the override is seen in the
// rendered device the command prints; usage errors and refusals exit 1 with a message naming what is wrong.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { waitFor } from "./helpers/agents.js";
import { buildCli, runCli } from "./helpers/cli.js";

let t: TestApi;
let dir: string;
let cfgDir: string;
const cli = (args: string[], opts?: Parameters<typeof runCli>[2]) => runCli(cfgDir, args, opts);
const ok = async (args: string[], opts?: Parameters<typeof runCli>[2]) => {
  const r = await cli(args, opts);
  assert.equal(r.code, 0, `flightctl ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
};

before(async () => {
  buildCli();
  t = await startTestApi({ worker: true });
  const admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  dir = mkdtempSync(join(tmpdir(), "fc-cli-app-"));
  cfgDir = join(dir, "config");
  await ok(["login", `https://localhost:${t.api.port}`, "--certificate-authority", t.api.caPath, "--token", admin]);
});
after(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

const DEVICE = `apiVersion: v1beta1
kind: Device
metadata:
  name: kiosk
  labels: {}
spec:
  applications:
    - name: web
      appType: compose
      inline:
        - path: docker-compose.yaml
          content: "services: {}"
`;

type Rendered = {
  metadata: { annotations: Record<string, string> };
  spec: { applications: { name: string; desiredState?: string; restartGeneration?: number }[] };
};
const rendered = async (o: "yaml" | "json" = "yaml"): Promise<Rendered> => {
  const out = await ok(["get", "device/kiosk", "--rendered", "-o", o]);
  return o === "json" ? JSON.parse(out) : parse(out);
};
const version = (r: Rendered) => Number(r.metadata.annotations["device-controller/renderedVersion"]);

test("get --rendered prints the rendered device; app stop/start/restart change it", async () => {
  await ok(["apply", "-f", "-"], { input: DEVICE });
  const first = await waitFor("the first render", async () => {
    const r = await cli(["get", "device/kiosk", "--rendered"]);
    return r.code === 0 && (parse(r.stdout) as Rendered);
  });
  assert.equal(first.spec.applications[0].name, "web");
  assert.equal(first.spec.applications[0].desiredState, undefined);

  assert.match(await ok(["app", "stop", "device/kiosk", "web"]), /device\/kiosk: application "web" stop requested/);
  const stopped = await waitFor("the stop rendered", async () => {
    const r = await rendered("json");
    return version(r) > version(first) && r;
  });
  assert.equal(stopped.spec.applications[0].desiredState, "stopped");

  await ok(["app", "start", "device", "kiosk", "web"]);
  await ok(["app", "restart", "device/kiosk", "web"]);
  const restarted = await waitFor("the restart rendered", async () => {
    const r = await rendered();
    return r.spec.applications[0].restartGeneration === 1 && r;
  });
  assert.equal(restarted.spec.applications[0].desiredState, "running");
});

test("app: unknown applications, actions and targets are refused naming them", async () => {
  let r = await cli(["app", "stop", "device/kiosk", "nginx"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /application "nginx" not found in device "kiosk"/);
  r = await cli(["app", "pause", "device/kiosk", "web"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /unknown action "pause"; use one of start, stop, restart/);
  r = await cli(["app", "restart", "fleet/shop", "web"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /restart applies to one device's application/);
  r = await cli(["app", "stop", "repository/x", "web"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /device\/<name> <application> or fleet\/<name> <application>/);
  r = await cli(["get", "devices", "--rendered"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--rendered shows one device/);
  r = await cli(["get", "device/kiosk", "--rendered", "-o", "wide"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--rendered prints yaml or json/);
});

test("app start|stop on a fleet's application", async () => {
  await ok(["apply", "-f", "-"], {
    input: `apiVersion: v1beta1
kind: Fleet
metadata:
  name: shop
spec:
  selector:
    matchLabels:
      fleet: shop
  template:
    spec:
      applications:
        - name: till
          appType: compose
          inline:
            - path: docker-compose.yaml
              content: "services: {}"
`,
  });
  assert.match(await ok(["app", "stop", "fleet/shop", "till"]), /fleet\/shop: application "till" stop requested/);
  const r = await cli(["app", "stop", "fleet/shop", "web"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /application "web" not found in the template of fleet "shop"/);
});
