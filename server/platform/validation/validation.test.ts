// Validation rules per kind: flightctl's examples pass, and each bad input is refused at its exact field path.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { readdirSync, readFileSync } from "node:fs";
import type { JsonObject } from "@bufbuild/protobuf";
import type { FieldViolation } from "../errors.js";
import { parseDocuments } from "../codec.js";
import { validateDevice } from "../../devices/device-validation.js";
import { validateFleet } from "../../fleets/fleet-validation.js";
import { validateRepository } from "../../repositories/repository-validation.js";
import { validateResourceSync } from "../../resourcesyncs/resourcesync-validation.js";
import { validateEnrollmentRequest } from "../../enrollment/enrollmentrequest-validation.js";
import { validateCertificateSigningRequest } from "../../certificates/csr-validation.js";
import { validateAuthProvider } from "../../authproviders/authprovider-validation.js";
import { cronProblem, devicePathProblem, imageRefProblem } from "./rules.js";
import { templateProblem } from "./template.js";

const validators: Record<string, (o: JsonObject) => FieldViolation[]> = {
  Device: validateDevice,
  Fleet: validateFleet,
  Repository: validateRepository,
  ResourceSync: validateResourceSync,
  EnrollmentRequest: validateEnrollmentRequest,
  CertificateSigningRequest: validateCertificateSigningRequest,
  AuthProvider: validateAuthProvider,
};

const root = new URL("../../../test/fixtures/flightctl-examples/", import.meta.url);
const files = [
  ...readdirSync(root).filter((f) => /\.ya?ml$/.test(f)),
  ...readdirSync(new URL("test-data/", root)).map((f) => `test-data/${f}`),
];
const expectedFailures: Record<string, string> = {
  "test-data/badfleetrequest.yaml": "spec.rolloutPolicy.deviceSelection.sequence[0].limit",
  "csr-waiting.yml": "spec.signerName",
};

describe("flightctl's examples", () => {
  for (const file of files) {
    test(file, () => {
      for (const doc of parseDocuments(readFileSync(new URL(file, root), "utf8").replaceAll("{{test_id}}", "t1"))) {
        const problems = validators[doc.kind as string](doc);
        const expected = expectedFailures[file];
        if (expected)
          assert.ok(
            problems.some((p) => p.field === expected),
            JSON.stringify(problems),
          );
        else assert.deepEqual(problems, []);
      }
    });
  }
});

/** Asserts that `doc` is refused with a violation at `field`. */
function refused(validate: (o: JsonObject) => FieldViolation[], doc: JsonObject, field: string) {
  const problems = validate(doc);
  assert.ok(
    problems.some((p) => p.field === field),
    `expected a problem at ${field}, got ${JSON.stringify(problems)}`,
  );
}
const meta = { name: "x" };
const dev = (spec: JsonObject) => ({ metadata: meta, spec });
const fleet = (spec: JsonObject) => ({ metadata: meta, spec: { selector: { matchLabels: { a: "b" } }, template: { spec: {} }, ...spec } });

describe("devices", () => {
  const cases: [string, JsonObject, string][] = [
    ["bad name", { metadata: { name: "UPPER" } }, "metadata.name"],
    ["consoles refused", dev({ consoles: [] }), "spec.consoles"],
    ["image and catalog", dev({ os: { image: "quay.io/a/b:1", catalogItemRef: { catalog: "c", item: "i", version: "1" } } }), "spec.os"],
    ["bad image", dev({ os: { image: "Not An Image" } }), "spec.os.image"],
    [
      "two providers",
      dev({ config: [{ name: "c", inline: [{ path: "/a", content: "" }], gitRef: { repository: "r", targetRevision: "m", path: "/" } }] }),
      "spec.config[0]",
    ],
    [
      "duplicate config names",
      dev({
        config: [
          { name: "c", inline: [{ path: "/a", content: "" }] },
          { name: "c", inline: [{ path: "/b", content: "" }] },
        ],
      }),
      "spec.config[1].name",
    ],
    ["relative inline path", dev({ config: [{ name: "c", inline: [{ path: "etc/a", content: "" }] }] }), "spec.config[0].inline[0].path"],
    [
      "forbidden path",
      dev({ config: [{ name: "c", inline: [{ path: "/etc/flightctl/certs/x", content: "" }] }] }),
      "spec.config[0].inline[0].path",
    ],
    [
      "same path twice",
      dev({
        config: [
          {
            name: "c",
            inline: [
              { path: "/a", content: "" },
              { path: "/a", content: "" },
            ],
          },
        ],
      }),
      "spec.config[0].inline[1].path",
    ],
    ["bad mode", dev({ config: [{ name: "c", inline: [{ path: "/a", content: "", mode: 0o17777 }] }] }), "spec.config[0].inline[0].mode"],
    [
      "bad base64",
      dev({ config: [{ name: "c", inline: [{ path: "/a", content: "!!", contentEncoding: "base64" }] }] }),
      "spec.config[0].inline[0].content",
    ],
    ["unknown appType", dev({ applications: [{ name: "a", appType: "docker", image: "quay.io/a/b:1" }] }), "spec.applications[0].appType"],
    [
      "inline container",
      dev({ applications: [{ name: "a", appType: "container", inline: [{ path: "a", content: "" }] }] }),
      "spec.applications[0].inline",
    ],
    [
      "bad port",
      dev({ applications: [{ name: "a", appType: "container", image: "quay.io/a/b:1", ports: ["80:99999"] }] }),
      "spec.applications[0].ports[0]",
    ],
    [
      "ports on compose",
      dev({ applications: [{ name: "a", appType: "compose", image: "quay.io/a/b:1", ports: ["80:80"] }] }),
      "spec.applications[0].ports",
    ],
    [
      "bad env name",
      dev({ applications: [{ name: "a", appType: "compose", image: "quay.io/a/b:1", envVars: { "1X": "v" } }] }),
      "spec.applications[0].envVars.1X".replace(".1X", '["1X"]'),
    ],
    [
      "desiredState set by user",
      dev({ applications: [{ name: "a", appType: "compose", image: "quay.io/a/b:1", desiredState: "stopped" }] }),
      "spec.applications[0].desiredState",
    ],
    [
      "bad memory limit",
      dev({ applications: [{ name: "a", appType: "container", image: "quay.io/a/b:1", resources: { limits: { memory: "lots" } } }] }),
      "spec.applications[0].resources.limits.memory",
    ],
    [
      "duplicate apps",
      dev({
        applications: [
          { name: "a", appType: "compose", image: "quay.io/a/b:1" },
          { name: "a", appType: "compose", image: "quay.io/a/c:1" },
        ],
      }),
      "spec.applications[1].name",
    ],
    [
      "disk monitor without path",
      dev({ resources: [{ monitorType: "Disk", samplingInterval: "30s", alertRules: [] }] }),
      "spec.resources[0].path",
    ],
    [
      "alert shorter than sampling",
      dev({
        resources: [{ monitorType: "CPU", samplingInterval: "5m", alertRules: [{ severity: "Warning", duration: "1m", percentage: 50 }] }],
      }),
      "spec.resources[0].alertRules[0].duration",
    ],
    [
      "thresholds not increasing",
      dev({
        resources: [
          {
            monitorType: "CPU",
            samplingInterval: "30s",
            alertRules: [
              { severity: "Warning", duration: "5m", percentage: 90 },
              { severity: "Critical", duration: "5m", percentage: 80 },
            ],
          },
        ],
      }),
      "spec.resources[0].alertRules",
    ],
    ["bad cron", dev({ updatePolicy: { updateSchedule: { at: "61 * * * *" } } }), "spec.updatePolicy.updateSchedule.at"],
    [
      "bad time zone",
      dev({ updatePolicy: { downloadSchedule: { at: "* * * * *", timeZone: "Mars/Base" } } }),
      "spec.updatePolicy.downloadSchedule.timeZone",
    ],
    ["bad systemd pattern", dev({ systemd: { matchPatterns: ["bad pattern"] } }), "spec.systemd.matchPatterns[0]"],
    // Well-formed, but no date matches: the window would never open.
    [
      "a schedule that never opens (February 30th)",
      dev({ updatePolicy: { updateSchedule: { at: "0 3 30 2 *" } } }),
      "spec.updatePolicy.updateSchedule.at",
    ],
    [
      "a grace longer than the time between fires",
      dev({ updatePolicy: { downloadSchedule: { at: "*/10 * * * *", startGraceDuration: "11m" } } }),
      "spec.updatePolicy.downloadSchedule.startGraceDuration",
    ],
  ];
  for (const [name, doc, field] of cases) test(name, () => refused(validateDevice, doc, field));
  test("schedules that open are accepted (leap day, a grace as long as the interval, a zone)", () => {
    for (const s of [
      { at: "0 3 29 2 *", timeZone: "Europe/Paris", startGraceDuration: "1h" },
      { at: "*/10 * * * *", timeZone: "UTC", startGraceDuration: "10m" },
      { at: "0 22 * * 1-5", timeZone: "Local", startGraceDuration: "2h30m" },
    ] as JsonObject[]) {
      assert.deepEqual(validateDevice(dev({ updatePolicy: { updateSchedule: s, downloadSchedule: s } })), [], JSON.stringify(s));
    }
  });
});

describe("fleets", () => {
  const cases: [string, JsonObject, string][] = [
    ["empty selector", fleet({ selector: {} }), "spec.selector"],
    [
      "bad expression operator",
      fleet({ selector: { matchExpressions: [{ key: "a", operator: "Like" }] } }),
      "spec.selector.matchExpressions[0].operator",
    ],
    ["missing template", { metadata: meta, spec: { selector: { matchLabels: { a: "b" } } } }, "spec.template"],
    [
      "template placeholder outside the subset",
      fleet({ template: { spec: { os: { image: "quay.io/a/b:{{ .spec.x }}" } } } }),
      "spec.template.spec.os.image",
    ],
    ["empty rollout policy", fleet({ rolloutPolicy: {} }), "spec.rolloutPolicy"],
    [
      "decimal percentage",
      fleet({ rolloutPolicy: { deviceSelection: { strategy: "BatchSequence", sequence: [{ limit: "10.5%" }] } } }),
      "spec.rolloutPolicy.deviceSelection.sequence[0].limit",
    ],
    [
      "zero limit",
      fleet({ rolloutPolicy: { deviceSelection: { strategy: "BatchSequence", sequence: [{ limit: 0 }] } } }),
      "spec.rolloutPolicy.deviceSelection.sequence[0].limit",
    ],
    [
      "bad timeout",
      fleet({ rolloutPolicy: { deviceSelection: { strategy: "BatchSequence" }, defaultUpdateTimeout: "1 day" } }),
      "spec.rolloutPolicy.defaultUpdateTimeout",
    ],
    ["budget without bounds", fleet({ rolloutPolicy: { disruptionBudget: { groupBy: ["site"] } } }), "spec.rolloutPolicy.disruptionBudget"],
    [
      "repeated groupBy",
      fleet({ rolloutPolicy: { disruptionBudget: { groupBy: ["a", "a"], maxUnavailable: 1 } } }),
      "spec.rolloutPolicy.disruptionBudget.groupBy",
    ],
  ];
  for (const [name, doc, field] of cases) test(name, () => refused(validateFleet, doc, field));
  test("allowed template expressions pass", () => {
    assert.deepEqual(
      validateFleet(
        fleet({
          template: {
            spec: { os: { image: 'quay.io/a/{{ .metadata.labels.model | lower }}:{{ getOrDefault .metadata.labels "v" "1" }}' } },
          },
        }),
      ),
      [],
    );
  });
});

describe("other kinds", () => {
  const cases: [string, (o: JsonObject) => FieldViolation[], JsonObject, string][] = [
    ["repo without type", validateRepository, { metadata: meta, spec: { url: "https://x" } }, "spec.type"],
    [
      "git repo with both auths",
      validateRepository,
      { metadata: meta, spec: { type: "git", url: "https://x", httpConfig: {}, sshConfig: {} } },
      "spec",
    ],
    ["http repo with bad url", validateRepository, { metadata: meta, spec: { type: "http", url: "not a url" } }, "spec.url"],
    ["oci repo without registry", validateRepository, { metadata: meta, spec: { type: "oci" } }, "spec.registry"],
    ["oci repo with url", validateRepository, { metadata: meta, spec: { type: "oci", registry: "quay.io", url: "https://x" } }, "spec.url"],
    [
      "username without password",
      validateRepository,
      { metadata: meta, spec: { type: "git", url: "https://x", httpConfig: { username: "u" } } },
      "spec.httpConfig",
    ],
    ["rs without path", validateResourceSync, { metadata: meta, spec: { repository: "r", targetRevision: "main" } }, "spec.path"],
    [
      "rs bad type",
      validateResourceSync,
      { metadata: meta, spec: { repository: "r", targetRevision: "main", path: "/", type: "device" } },
      "spec.type",
    ],
    ["er with garbage csr", validateEnrollmentRequest, { metadata: meta, spec: { csr: "hello" } }, "spec.csr"],
    ["er bad osMode", validateEnrollmentRequest, { metadata: meta, spec: { csr: "x", osMode: "rpm" } }, "spec.osMode"],
    [
      "csr missing usage",
      validateCertificateSigningRequest,
      { metadata: meta, spec: { request: "", signerName: "enrollment", usages: ["clientAuth"] } },
      "spec.usages",
    ],
    [
      "csr unknown signer",
      validateCertificateSigningRequest,
      { metadata: meta, spec: { request: "eA==", signerName: "acme", usages: [] } },
      "spec.signerName",
    ],
    [
      "auth provider of a config-only type",
      validateAuthProvider,
      { metadata: meta, spec: { providerType: "k8s", clientId: "c" } },
      "spec.providerType",
    ],
    ["oidc without issuer", validateAuthProvider, { metadata: meta, spec: { providerType: "oidc", clientId: "c" } }, "spec.issuer"],
    [
      "static org without name",
      validateAuthProvider,
      { metadata: meta, spec: { providerType: "oidc", clientId: "c", issuer: "https://i", organizationAssignment: { type: "static" } } },
      "spec.organizationAssignment.organizationName",
    ],
  ];
  for (const [name, validate, doc, field] of cases) test(name, () => refused(validate, doc, field));
});

describe("format rules", () => {
  test("cron, paths, images, templates", () => {
    assert.equal(cronProblem("*/15 2-4 1,15 * 1-5"), undefined);
    assert.ok(cronProblem("* * *"));
    assert.equal(devicePathProblem("/etc/motd"), undefined);
    assert.ok(devicePathProblem("/var/lib/flightctl/x"));
    assert.ok(devicePathProblem("/etc/../var/lib/x"));
    assert.equal(imageRefProblem(`localhost:5000/a/b@sha256:${"a".repeat(64)}`, false), undefined);
    assert.ok(imageRefProblem("quay.io/a/b:{{ .metadata.name }}", false));
    assert.equal(imageRefProblem("quay.io/a/b:{{ .metadata.name }}", true), undefined);
    assert.ok(templateProblem("{{ range .x }}"));
    assert.equal(templateProblem('{{ if eq .metadata.labels.env "prod" }}a{{ else }}b{{ end }}'), undefined);
  });
});
