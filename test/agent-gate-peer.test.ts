// The agent gate and a connection's peer: the client certificate is read once per connection, then released (an idle
// connection keeps neither its DER nor its parse; its fingerprint stays for per-certificate rate limits), and every
// call of the same device certificate gets the same Caller.
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { AgentDeviceService } from "../gen/flightctl/agent/v1beta1/device_service_pb.js";
import { createAgentGate } from "../server/auth/agent-auth-interceptor.js";
import { DEVICE_CN_PREFIX, SIGNER_DEVICE_ENROLLMENT } from "../server/certificates/signers.js";
import { toConnectError } from "../server/platform/errors.js";
import { DEFAULT_ORG_ID } from "../server/platform/identity.js";
import { peerFingerprint, type Peer } from "../server/platform/peer.js";
import { ensurePki } from "../server/platform/pki/ca.js";
import { signClientCertificate } from "../server/platform/pki/signer.js";
import { generateDeviceKey } from "../lib/csr.js";

let dir: string;
let der: Buffer;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "gate-peer-"));
  const pki = await ensurePki(dir);
  const keys = await generateDeviceKey();
  const { certPem } = await signClientCertificate(pki.clientSigner, {
    publicKey: keys.publicKey,
    commonName: `${DEVICE_CN_PREFIX}dev1`,
    signerName: SIGNER_DEVICE_ENROLLMENT,
    orgId: DEFAULT_ORG_ID,
    deviceFingerprint: "dev1",
    validitySeconds: 3600,
  });
  der = new X509Certificate(certPem).raw;
});
after(() => rmSync(dir, { recursive: true, force: true }));

const watch = AgentDeviceService.method.watchRenderedDevice;
const status = AgentDeviceService.method.streamDeviceStatus;

test("a connection's certificate is read once and released; its calls share one Caller and keep the fingerprint", async () => {
  const gate = createAgentGate(async () => true, new Set([watch, status]));
  const peer: Peer = { raw: der, authorized: true };
  const sha = createHash("sha256").update(der).digest("hex");
  const first = await gate(watch, peer, "dev1");
  assert.equal(first.identity.kind, "device");
  assert.equal(first.identity.kind === "device" && first.identity.deviceName, "dev1");
  assert.equal(first.orgId, DEFAULT_ORG_ID);
  assert.equal(peer.raw, undefined, "the DER is released");
  assert.equal(peerFingerprint(peer), sha, "the fingerprint is kept");
  // The same connection's next stream, and another connection with the same certificate: the same Caller.
  assert.equal(await gate(status, peer), first);
  assert.equal(await gate(watch, { raw: der, authorized: true }, "dev1"), first);
  // Still refused: another device's name, and a connection without a certificate.
  await assert.rejects(gate(watch, peer, "dev2"), (e) => toConnectError(e).code === Code.PermissionDenied);
  await assert.rejects(gate(watch, { authorized: false }, "dev1"), (e) => toConnectError(e).code === Code.Unauthenticated);
  await assert.rejects(
    gate(watch, { raw: der, authorized: false, authorizationError: "CERT_HAS_EXPIRED" }, "dev1"),
    (e) => toConnectError(e).code === Code.Unauthenticated,
  );
});

test("a peer's fingerprint is the SHA-256 of its certificate, with or without one", () => {
  assert.equal(peerFingerprint({ raw: der, authorized: true }), createHash("sha256").update(der).digest("hex"));
  assert.equal(peerFingerprint({ authorized: false }), undefined);
});
