// Enrollment end to end over real sockets: the user endpoint (bearer tokens) hands out enrollment material, an agent
// enrolls over the mTLS agent endpoint, an installer approves, and the management certificate works for its own
// device only. Expired, foreign-CA, enrollment and other devices' certificates are refused; deleting the device
// makes its certificate worthless. Also every agent RPC × every kind of credential.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { startTestApi, type TestApi } from "./helpers/api.js";
import type { RunningApi } from "../server/main/api.js";
import { createCa, type KeyPair } from "../server/platform/pki/ca.js";
import { signClientCertificate } from "../server/platform/pki/signer.js";
import { createCsr, deviceNameFromPublicKey, generateDeviceKey } from "../lib/csr.js";
import { readCertIdentity } from "../server/platform/pki/identity.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { EnrollmentRequestService } from "../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { EnrollmentConfigService } from "../gen/flightctl/v1beta1/enrollmentconfig_service_pb.js";
import { AgentEnrollmentService } from "../gen/flightctl/agent/v1beta1/enrollment_service_pb.js";
import { AgentDeviceService } from "../gen/flightctl/agent/v1beta1/device_service_pb.js";
import { AgentCertificateService } from "../gen/flightctl/agent/v1beta1/certificate_service_pb.js";
import { DEFAULT_ORG_ID } from "../server/platform/identity.js";

let t: TestApi;
let api: RunningApi;
let dataDir: string;
let ca: string;
let admin: string;
let installer: string;
const transports: Transport[] = [];

before(async () => {
  t = await startTestApi();
  ({ api, dataDir } = t);
  ca = readFileSync(api.bundlePath, "utf8");
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  installer = await t.issuer.token("ivy", { roles: ["flightctl-installer"], organizations: ["default"] });
});

after(async () => {
  await t.close();
  await assertNoOpenHandles();
});

const auth = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const user = <S extends DescService>(s: S) =>
  createClient(s, createGrpcTransport({ baseUrl: `https://localhost:${api.port}`, nodeOptions: { ca } }));
/** A client of the agent endpoint presenting `cred` (or no certificate). */
function agent<S extends DescService>(s: S, cred?: { certPem: string; keyPem: string }) {
  const transport = createGrpcTransport({
    baseUrl: `https://localhost:${api.agentPort}`,
    nodeOptions: { ca, ...(cred ? { cert: cred.certPem, key: cred.keyPem } : {}) },
  });
  transports.push(transport);
  return createClient(s, transport);
}
const codeWithMessage = async (p: Promise<unknown>) =>
  p.then(
    () => "ok" as const,
    (e) => `${Code[ConnectError.from(e).code]}: ${ConnectError.from(e).rawMessage}`,
  );
const code = async (p: Promise<unknown>) =>
  p.then(
    () => "ok" as const,
    (e) => ConnectError.from(e).code,
  );

/** Enrollment material from the user API (a fresh enrollment certificate and key). */
async function enrollmentCredential() {
  const cfg = await user(EnrollmentConfigService).getEnrollmentConfig({}, auth(admin));
  const a = cfg.enrollmentService!.authentication!;
  return {
    certPem: Buffer.from(a.clientCertificateData!, "base64").toString(),
    keyPem: Buffer.from(a.clientKeyData!, "base64").toString(),
    server: cfg.enrollmentService!.service!.server!,
    caPem: Buffer.from(cfg.enrollmentService!.service!.certificateAuthorityData!, "base64").toString(),
  };
}

/** An agent's side of enrollment: key, name, CSR, request; returns what it needs to poll. */
async function requestEnrollment(enroll: { certPem: string; keyPem: string }, labels: Record<string, string> = {}) {
  const keys = await generateDeviceKey();
  const name = await deviceNameFromPublicKey(keys.publicKey);
  const csr = await createCsr(keys, name);
  await agent(AgentEnrollmentService, enroll).createEnrollmentRequest({
    enrollmentRequest: { apiVersion: "v1beta1", kind: "EnrollmentRequest", metadata: { name }, spec: { csr, labels, osMode: "image" } },
  });
  return { name, keys };
}

describe("enrollment over the agent endpoint", () => {
  let enroll: Awaited<ReturnType<typeof enrollmentCredential>>;
  let device: { name: string; cred: { certPem: string; keyPem: string } };

  before(async () => {
    enroll = await enrollmentCredential();
  });

  test("enrollment config carries an enrollment certificate that openssl verifies, and the agent endpoint URL", () => {
    assert.match(enroll.server, new RegExp(`^https://.+:${api.agentPort}$`));
    const dir = mkdtempSync(join(tmpdir(), "fc-cert-"));
    try {
      writeFileSync(join(dir, "bundle.pem"), enroll.caPem);
      writeFileSync(join(dir, "cert.pem"), enroll.certPem);
      assert.match(
        execFileSync("openssl", ["verify", "-CAfile", join(dir, "bundle.pem"), join(dir, "cert.pem")], { encoding: "utf8" }),
        /OK/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const id = readCertIdentity(enroll.certPem);
    assert.equal(id.signerName, "flightctl.io/enrollment");
    assert.equal(id.orgId, DEFAULT_ORG_ID);
    assert.match(id.commonName, /^client-enrollment-/);
  });

  test("request → approval → management certificate → own-device RPCs", async () => {
    const { name, keys } = await requestEnrollment(enroll, { site: "lab", tier: "edge" });
    assert.equal(name.length, 52);
    const pending = await agent(AgentEnrollmentService, enroll).getEnrollmentRequest({ name });
    assert.equal(pending.status?.certificate ?? "", "");
    // A duplicate request is refused; the agent reads the existing one instead (flightctl's 409).
    assert.equal(await code(requestEnrollment(enroll)), "ok"); // another device is fine
    const again = agent(AgentEnrollmentService, enroll).createEnrollmentRequest({
      enrollmentRequest: {
        apiVersion: "v1beta1",
        kind: "EnrollmentRequest",
        metadata: { name },
        spec: { csr: await createCsr(keys, name) },
      },
    });
    assert.equal(await code(again), Code.AlreadyExists);

    const approval = await user(EnrollmentRequestService).approveEnrollmentRequest(
      { name, approval: { approved: true, labels: { tier: "prod", fleet: "f1" } } },
      auth(installer),
    );
    assert.equal(approval.approvedBy, "ivy");
    const dev = await user(DeviceService).getDevice({ name }, auth(admin));
    assert.deepEqual(dev.metadata?.labels, { site: "lab", tier: "prod", fleet: "f1" });
    assert.equal(dev.status?.lifecycle?.status, "Enrolled");

    const er = await agent(AgentEnrollmentService, enroll).getEnrollmentRequest({ name });
    assert.ok(er.status?.certificate?.includes("BEGIN CERTIFICATE"));
    assert.ok(er.status?.conditions.some((c) => c.type === "Approved" && c.status === "True"));
    const mgmt = readCertIdentity(er.status!.certificate!);
    assert.equal(mgmt.commonName, `device:${name}`);
    assert.equal(mgmt.deviceFingerprint, name);
    assert.equal(mgmt.signerName, "flightctl.io/device-enrollment");
    device = { name, cred: { certPem: er.status!.certificate!, keyPem: keys.keyPem } };

    const status = await agent(AgentDeviceService, device.cred).replaceDeviceStatus({
      name,
      device: { apiVersion: "v1beta1", kind: "Device", metadata: { name }, status: { summary: { status: "Online" } } },
    });
    assert.equal(status.status?.summary?.status, "Online");
    // Approving twice is refused.
    assert.equal(
      await code(user(EnrollmentRequestService).approveEnrollmentRequest({ name, approval: { approved: true } }, auth(installer))),
      Code.InvalidArgument,
    );
  });

  test("a management certificate acts only on its own device", async () => {
    const other = await requestEnrollment(enroll);
    await user(EnrollmentRequestService).approveEnrollmentRequest({ name: other.name, approval: { approved: true } }, auth(admin));
    const c = await code(
      agent(AgentDeviceService, device.cred).replaceDeviceStatus({
        name: other.name,
        device: { metadata: { name: other.name }, status: {} },
      }),
    );
    assert.equal(c, Code.PermissionDenied);
  });

  test("enrollment, expired and foreign-CA certificates are refused on device RPCs", async () => {
    const statusCall = (cred?: { certPem: string; keyPem: string }) =>
      code(
        agent(AgentDeviceService, cred).replaceDeviceStatus({ name: device.name, device: { metadata: { name: device.name }, status: {} } }),
      );
    assert.equal(await statusCall(undefined), Code.Unauthenticated);
    assert.equal(await statusCall(enroll), Code.PermissionDenied);
    const signer: KeyPair = {
      certPem: readFileSync(join(dataDir, "certs", "client-signer.crt"), "utf8"),
      keyPem: readFileSync(join(dataDir, "certs", "client-signer.key"), "utf8"),
    };
    const expired = await signClientCertificate(signer, {
      publicKey: (await device_key()).publicKey,
      commonName: `device:${device.name}`,
      signerName: "flightctl.io/device-enrollment",
      orgId: DEFAULT_ORG_ID,
      deviceFingerprint: device.name,
      validitySeconds: 60,
      notBefore: new Date(Date.now() - 3600_000),
    });
    assert.equal(await statusCall({ certPem: expired.certPem, keyPem: lastKey!.keyPem }), Code.Unauthenticated);
    const foreignCa = await createCa("Somebody Else");
    const foreign = await signClientCertificate(foreignCa, {
      publicKey: lastKey!.publicKey,
      commonName: `device:${device.name}`,
      signerName: "flightctl.io/device-enrollment",
      orgId: DEFAULT_ORG_ID,
      deviceFingerprint: device.name,
      validitySeconds: 3600,
    });
    assert.equal(await statusCall({ certPem: foreign.certPem, keyPem: lastKey!.keyPem }), Code.Unauthenticated);
  });

  test("renewal CSRs from the device are signed at once; a CN that is not the device's is refused", async () => {
    const keys = await generateDeviceKey();
    const csr = Buffer.from(await createCsr(keys, device.name)).toString("base64");
    const certs = agent(AgentCertificateService, device.cred);
    const created = await certs.createCertificateSigningRequest({
      certificateSigningRequest: {
        apiVersion: "v1beta1",
        kind: "CertificateSigningRequest",
        metadata: { name: `renew-${device.name.slice(0, 10)}` },
        spec: { request: csr, signerName: "flightctl.io/device-management-renewal", usages: ["clientAuth", "CA:false"] },
      },
    });
    assert.equal(created.metadata?.owner, `Device/${device.name}`);
    const renewed = Buffer.from(created.status!.certificate!, "base64").toString();
    assert.equal(readCertIdentity(renewed).commonName, `device:${device.name}`);
    // The renewed certificate works.
    const ok = await codeWithMessage(
      agent(AgentDeviceService, { certPem: renewed, keyPem: keys.keyPem }).replaceDeviceStatus({
        name: device.name,
        device: { metadata: { name: device.name }, status: {} },
      }),
    );
    assert.equal(ok, "ok");
    const wrongCn = Buffer.from(await createCsr(keys, "someone-else")).toString("base64");
    const refused = certs.createCertificateSigningRequest({
      certificateSigningRequest: {
        apiVersion: "v1beta1",
        kind: "CertificateSigningRequest",
        metadata: { name: "renew-wrong" },
        spec: { request: wrongCn, signerName: "flightctl.io/device-management-renewal", usages: ["clientAuth", "CA:false"] },
      },
    });
    await assert.rejects(
      refused,
      (e: ConnectError) => e.code === Code.InvalidArgument && /common name must be the calling device's name/.test(e.rawMessage),
    );
    assert.equal(await code(certs.getCertificateSigningRequest({ name: created.metadata!.name! })), "ok");
  });

  test("a denied request gets no certificate and cannot be approved later", async () => {
    const { name } = await requestEnrollment(enroll);
    await user(EnrollmentRequestService).approveEnrollmentRequest({ name, approval: { approved: false } }, auth(admin));
    const er = await agent(AgentEnrollmentService, enroll).getEnrollmentRequest({ name });
    assert.ok(er.status?.conditions.some((c) => c.type === "Denied" && c.status === "True"));
    assert.equal(er.status?.certificate ?? "", "");
    assert.equal(
      await code(user(EnrollmentRequestService).approveEnrollmentRequest({ name, approval: { approved: true } }, auth(admin))),
      Code.FailedPrecondition,
    );
    assert.equal(await code(user(DeviceService).getDevice({ name }, auth(admin))), Code.NotFound);
  });

  test("deleting the device makes its certificate worthless; the request stays until the device is gone", async () => {
    assert.equal(
      await code(user(EnrollmentRequestService).deleteEnrollmentRequest({ name: device.name }, auth(admin))),
      Code.FailedPrecondition,
    );
    await user(DeviceService).deleteDevice({ name: device.name }, auth(admin));
    // Every device RPC: the status reports answer from their own read of the device (the gate does not ask for
    // them), the others from the gate's check.
    const devices = agent(AgentDeviceService, device.cred);
    const certs = agent(AgentCertificateService, device.cred);
    const calls: [string, () => Promise<unknown>][] = [
      [
        "replaceDeviceStatus",
        () => devices.replaceDeviceStatus({ name: device.name, device: { metadata: { name: device.name }, status: {} } }),
      ],
      ["patchDeviceStatus", () => devices.patchDeviceStatus({ name: device.name, patch: [] })],
      ["getRenderedDevice", () => devices.getRenderedDevice({ name: device.name, waitSeconds: 0 })],
      [
        "watchRenderedDevice",
        async () => {
          for await (const _ of devices.watchRenderedDevice({ name: device.name })) break;
        },
      ],
      ["getCertificateSigningRequest", () => certs.getCertificateSigningRequest({ name: "any" })],
    ];
    for (const [what, call] of calls) assert.equal(await code(call()), Code.NotFound, what);
  });
});

describe("enrollment requests: bad input gets clear errors", () => {
  test("malformed CSRs, a name that is not the key's fingerprint, a CN that does not match, oversized input", async () => {
    const enroll = await enrollmentCredential();
    const ers = agent(AgentEnrollmentService, enroll);
    const keys = await generateDeviceKey();
    const name = await deviceNameFromPublicKey(keys.publicKey);
    const submit = (metaName: string, csr: string) =>
      ers.createEnrollmentRequest({
        enrollmentRequest: { apiVersion: "v1beta1", kind: "EnrollmentRequest", metadata: { name: metaName }, spec: { csr } },
      });
    const cases: [string, () => Promise<unknown>, RegExp][] = [
      ["garbage", () => submit(name, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"), /spec\.csr/],
      [
        "not the fingerprint",
        async () => submit("a".repeat(52), await createCsr(keys, "a".repeat(52))),
        /metadata\.name: must be the fingerprint/,
      ],
      ["CN mismatch", async () => submit(name, await createCsr(keys, "other-name")), /spec\.csr: the CSR's common name must be/],
      ["oversized", () => submit(name, "x".repeat(64 * 1024)), /spec\.csr/],
    ];
    for (const [what, run, message] of cases) {
      await assert.rejects(run(), (e: ConnectError) => e.code === Code.InvalidArgument && message.test(e.rawMessage), what);
    }
  });

  test("wrong signer names on the user API", async () => {
    const { CertificateSigningRequestService } = await import("../gen/flightctl/v1beta1/certificatesigningrequest_service_pb.js");
    const keys = await generateDeviceKey();
    const request = Buffer.from(await createCsr(keys, "boot")).toString("base64");
    const csrs = user(CertificateSigningRequestService);
    for (const [signer, message] of [
      ["flightctl.io/device-enrollment", /used only when an EnrollmentRequest is approved/],
      ["flightctl.io/device-management-renewal", /only a device may request/],
      ["example.com/nope", /spec\.signerName: must be one of/],
    ] as const) {
      await assert.rejects(
        csrs.createCertificateSigningRequest(
          {
            certificateSigningRequest: {
              apiVersion: "v1beta1",
              kind: "CertificateSigningRequest",
              metadata: { name: "boot" },
              spec: { request, signerName: signer, usages: ["clientAuth", "CA:false"] },
            },
          },
          auth(admin),
        ),
        (e: ConnectError) => message.test(e.rawMessage),
        signer,
      );
    }
  });
});

// Key of the device whose certificate the expired/foreign tests forge.
let lastKey: Awaited<ReturnType<typeof generateDeviceKey>> | undefined;
async function device_key() {
  lastKey = await generateDeviceKey();
  return lastKey;
}

describe("agent RPC × credential matrix", () => {
  test("each agent RPC accepts exactly its credential", async () => {
    const enroll = await enrollmentCredential();
    const { name, keys } = await requestEnrollment(enroll);
    const er = await user(EnrollmentRequestService).approveEnrollmentRequest({ name, approval: { approved: true } }, auth(admin));
    assert.ok(er.approved);
    const mgmt = {
      certPem: (await agent(AgentEnrollmentService, enroll).getEnrollmentRequest({ name })).status!.certificate!,
      keyPem: keys.keyPem,
    };
    const creds: Record<string, { certPem: string; keyPem: string } | undefined> = { none: undefined, enrollment: enroll, device: mgmt };
    const services = [AgentEnrollmentService, AgentDeviceService, AgentCertificateService];
    const wrong: string[] = [];
    for (const s of services) {
      for (const m of s.methods) {
        const needs = s === AgentEnrollmentService ? "enrollment" : "device";
        for (const [credName, cred] of Object.entries(creds)) {
          const client = agent(s, cred) as unknown as Record<
            string,
            (r: unknown, o?: unknown) => Promise<unknown> | AsyncIterable<unknown>
          >;
          const req = create(m.input) as Record<string, unknown>;
          if ("name" in req) req.name = name;
          if ("waitSeconds" in req) req.waitSeconds = 0;
          let c: Code | "ok";
          if (m.methodKind === "server_streaming") {
            // A stream that is accepted just waits (no render yet): no error within a moment counts as accepted.
            const ac = new AbortController();
            const t = setTimeout(() => ac.abort(), 1000);
            c = await (async () => {
              for await (const _ of client[m.localName](req, { signal: ac.signal }) as AsyncIterable<unknown>) break;
            })().then(
              () => "ok" as const,
              (e) => (ConnectError.from(e).code === Code.Canceled ? ("ok" as const) : ConnectError.from(e).code),
            );
            clearTimeout(t);
          } else if (m.methodKind === "bidi_streaming") {
            // One message (a status report without a device): the device's own is answered (InvalidArgument), others refused.
            const one = (async function* () {
              yield req;
            })();
            c = await (async () => {
              for await (const _ of client[m.localName](one) as AsyncIterable<unknown>) break;
            })().then(
              () => "ok" as const,
              (e) => ConnectError.from(e).code,
            );
          } else {
            c = await code(client[m.localName](req) as Promise<unknown>);
          }
          const refused = c === Code.Unauthenticated || c === Code.PermissionDenied;
          if (credName === needs ? refused || c === Code.Internal : !refused)
            wrong.push(`${m.name} with ${credName}: ${c === "ok" ? "ok" : Code[c]}`);
        }
      }
    }
    assert.deepEqual(wrong, []);
  });
});
