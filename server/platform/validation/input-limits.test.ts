import assert from "node:assert/strict";
import { test } from "node:test";
import { create, fromJson } from "@bufbuild/protobuf";
import { ReplaceDeviceStatusRequestSchema } from "../../../gen/flightctl/agent/v1beta1/device_service_pb.js";
import { CreateCertificateSigningRequestRequestSchema } from "../../../gen/flightctl/v1beta1/certificatesigningrequest_service_pb.js";
import { CreateFleetRequestSchema } from "../../../gen/flightctl/v1beta1/fleet_service_pb.js";
import { DEFAULT_INPUT_LIMITS, inputViolations } from "./input-limits.js";

const limits = { maxStringLength: 100, maxItems: 5, maxDepth: 8 };

/** An agent's status report as it arrives on every status update: a few conditions, applications, resources. */
const statusReport = fromJson(ReplaceDeviceStatusRequestSchema, {
  name: "dev-000001",
  device: {
    apiVersion: "flightctl.io/v1beta1",
    kind: "Device",
    metadata: { name: "dev-000001", labels: { region: "eu", site: "s1" } },
    status: {
      conditions: ["Updating", "SpecValid", "DeviceMultipleOwners", "DeviceDecommissioning"].map((type) => ({
        type,
        status: "False",
        reason: "AsExpected",
        message: "all good",
        lastTransitionTime: "2026-12-01T10:00:00Z",
      })),
      systemInfo: { architecture: "amd64", operatingSystem: "linux", bootID: "b7f2", agentVersion: "v1.0.0" },
      applications: Array.from({ length: 5 }, (_, i) => ({ name: `app-${i}`, ready: "1/1", restarts: 0, status: "Running" })),
      applicationsSummary: { status: "Healthy" },
      resources: { cpu: "Healthy", memory: "Healthy", disk: "Healthy" },
      config: { renderedVersion: "42" },
      os: { image: "quay.io/org/os:v1", imageDigest: "sha256:0123" },
      summary: { status: "Online", info: "Running" },
      updated: { status: "UpToDate" },
    },
  },
});

test("a well-formed request has no violations", () => {
  assert.deepEqual(inputViolations(ReplaceDeviceStatusRequestSchema, statusReport, DEFAULT_INPUT_LIMITS), []);
});

test("NUL and lone surrogates anywhere are named by their JSON field path", () => {
  const msg = create(CreateFleetRequestSchema, {
    fleet: {
      metadata: { name: "f", labels: { ok: "v", "bad\u0000key": "v" } },
      spec: { selector: { matchLabels: { a: "b\ud800" } }, template: { spec: { os: { image: "x\u0000" } } } },
    },
  });
  assert.deepEqual(
    inputViolations(CreateFleetRequestSchema, msg, DEFAULT_INPUT_LIMITS).map((v) => v.field),
    ['fleet.metadata.labels["bad\\u0000key"]', "fleet.spec.selector.matchLabels.a", "fleet.spec.template.spec.os.image"],
  );
});

test("strings, lists, maps and nesting beyond the limits; google.protobuf.Struct is walked as JSON", () => {
  const msg = create(CreateFleetRequestSchema, {
    fleet: { metadata: { name: "x".repeat(101), labels: Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`k${i}`, "v"])) } },
  });
  const v = inputViolations(CreateFleetRequestSchema, msg, limits);
  assert.deepEqual(
    v.map((x) => x.field),
    ["fleet.metadata.name", "fleet.metadata.labels"],
  );
  assert.match(v[0].message, /at most 100 characters, got 101/);
  assert.match(v[1].message, /at most 5 items, got 6/);

  let deep: unknown = "leaf\u0000";
  for (let i = 0; i < 10; i++) deep = { d: deep };
  const csr = (extra: unknown) =>
    fromJson(CreateCertificateSigningRequestRequestSchema, {
      certificateSigningRequest: { metadata: { name: "c" }, spec: { request: "x", signerName: "s", extra } },
    } as never);
  const [tooDeep] = inputViolations(CreateCertificateSigningRequestRequestSchema, csr(deep), limits);
  assert.match(tooDeep.message, /nest at most 8 levels/);
  assert.equal(tooDeep.field, "certificateSigningRequest.spec.extra.d.d.d.d.d");
  const [nul] = inputViolations(CreateCertificateSigningRequestRequestSchema, csr({ a: ["ok", "b\u0000"] }), limits);
  assert.equal(nul.field, "certificateSigningRequest.spec.extra.a[1]");
});

test("a hostile message yields a bounded list of violations", () => {
  const labels = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, "\u0000"]));
  const msg = create(CreateFleetRequestSchema, { fleet: { metadata: { name: "f", labels } } });
  assert.equal(inputViolations(CreateFleetRequestSchema, msg, DEFAULT_INPUT_LIMITS).length, 10);
});

test("cost per agent status report (diagnostic)", (t) => {
  const n = 20_000;
  for (let i = 0; i < 2000; i++) inputViolations(ReplaceDeviceStatusRequestSchema, statusReport, DEFAULT_INPUT_LIMITS);
  const started = performance.now();
  for (let i = 0; i < n; i++) inputViolations(ReplaceDeviceStatusRequestSchema, statusReport, DEFAULT_INPUT_LIMITS);
  const us = ((performance.now() - started) * 1000) / n;
  t.diagnostic(`input check of a status report: ${us.toFixed(2)} µs`);
  assert.ok(us < 500, `${us} µs`); // generous: a shared 2-core machine; the figure itself is the point
});
