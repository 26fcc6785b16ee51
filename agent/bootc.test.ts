// The bootc client: bootc's status document read into booted/staged/rollback (null slots, extra fields, a document
// that is not bootc's), the reference bootc is given for an image (tag and digest → digest), and the fake bootc of
// the tests run for real through the executor, read by the same parser.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { after, test } from "node:test";
import { FAKE_BOOTC_BIN } from "../test/helpers/fake-bootc.js";
import { bootcStatus, bootcSwitch, bootcTarget, parseBootcStatus } from "./bootc.js";
import { realExecutor, type Executor } from "./host.js";

const dir = mkdtempSync(join(tmpdir(), "fc-bootc-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const slot = (image: string, digest: string) => ({
  image: { image: { image, transport: "registry" }, version: "39.20240315.0", timestamp: null, imageDigest: digest },
  cachedUpdate: null,
  incompatible: false,
  pinned: false,
  ostree: { checksum: "389c", deploySerial: 0 },
});

test("parses bootc's BootcHost: booted, staged and rollback, null slots as absent", () => {
  const doc = {
    apiVersion: "org.containers.bootc/v1alpha1",
    kind: "BootcHost",
    metadata: { name: "host" },
    spec: { image: { image: "quay.io/flightctl/os:2", transport: "registry" } },
    status: {
      staged: null,
      booted: slot("quay.io/flightctl/os:2", "sha256:6adc"),
      rollback: slot("quay.io/flightctl/os:1", "sha256:9cb8"),
      type: "bootcHost",
    },
  };
  assert.deepEqual(parseBootcStatus(JSON.stringify(doc)), {
    booted: { image: "quay.io/flightctl/os:2", imageDigest: "sha256:6adc" },
    staged: undefined,
    rollback: { image: "quay.io/flightctl/os:1", imageDigest: "sha256:9cb8" },
  });
  // A host booted from no image (bootc installed, not image-based yet): every slot null.
  assert.deepEqual(parseBootcStatus(JSON.stringify({ status: { booted: null, staged: null, rollback: null } })), {
    booted: undefined,
    staged: undefined,
    rollback: undefined,
  });
  assert.throws(() => parseBootcStatus(""), /printed no JSON/);
  assert.throws(() => parseBootcStatus('{"kind":"Other"}'), /no status/);
});

test("the reference given to bootc: a tag and a digest become the digest alone", () => {
  assert.equal(bootcTarget("quay.io/x/os:2"), "quay.io/x/os:2");
  assert.equal(bootcTarget("quay.io/x/os@sha256:abc"), "quay.io/x/os@sha256:abc");
  assert.equal(bootcTarget("quay.io/x/os:2@sha256:abc"), "quay.io/x/os@sha256:abc");
  assert.equal(bootcTarget("localhost:5000/os:2@sha256:abc"), "localhost:5000/os@sha256:abc");
  assert.equal(bootcTarget("localhost:5000/os@sha256:abc"), "localhost:5000/os@sha256:abc");
});

test("the fake bootc of the tests speaks bootc's shape: switch stages, fake-boot boots, failToBoot keeps the old image", async () => {
  const state = join(dir, "state.json");
  writeFileSync(
    state,
    JSON.stringify({ booted: { image: "q/os:1", transport: "registry", imageDigest: "sha256:01" }, staged: null, rollback: null }),
  );
  const env = { PATH: `${FAKE_BOOTC_BIN}${delimiter}${process.env.PATH}`, FAKE_BOOTC_STATE: state };
  const exec: Executor = {
    ...realExecutor,
    run: (cmd, args, o) => realExecutor.run(cmd, args, { ...o, env }),
    available: () => true,
  };
  await bootcSwitch(exec, "q/os:2");
  let s = await bootcStatus(exec);
  assert.equal(s.booted?.image, "q/os:1");
  assert.equal(s.staged?.image, "q/os:2");
  assert.match(s.staged?.imageDigest ?? "", /^sha256:[0-9a-f]{64}$/);
  await exec.run("bootc", ["fake-boot"]);
  s = await bootcStatus(exec);
  assert.deepEqual([s.booted?.image, s.staged, s.rollback?.image], ["q/os:2", undefined, "q/os:1"]);

  await bootcSwitch(exec, "q/os:3");
  await realExecutor.run("bootc", ["fake-boot"], { env: { ...env, FAKE_BOOTC_FAIL_TO_BOOT: "q/os:3" } });
  s = await bootcStatus(exec);
  assert.deepEqual([s.booted?.image, s.staged, s.rollback?.image], ["q/os:2", undefined, "q/os:3"]);

  await assert.rejects(bootcSwitch(exec, "--bad"), (e: Error) =>
    e.message.startsWith("os --bad: bootc switch failed (2): error: unexpected argument"),
  );
});
