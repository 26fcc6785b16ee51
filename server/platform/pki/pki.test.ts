// The PKI against openssl: files and modes, chains that `openssl verify` accepts (and a foreign CA it refuses),
// flightctl's private extensions, validity capping, the device-name derivation computed independently, and clear
// errors for bad CSRs.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import tls from "node:tls";
import { after, before, test } from "node:test";
import { createCa, ensurePki, type Pki } from "./ca.js";
import { signClientCertificate } from "./signer.js";
import { readCertIdentity } from "./identity.js";
import { CsrError, createCsr, deviceNameFromPublicKey, generateDeviceKey, parseCsr } from "../../../lib/csr.js";
import { pemCsrProblem } from "../validation/csr.js";

let dir: string;
let pki: Pki;
const openssl = (...args: string[]) => execFileSync("openssl", args, { encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
const file = (name: string, content: string) => {
  writeFileSync(join(dir, name), content);
  return join(dir, name);
};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "fc-pki-test-"));
  pki = await ensurePki(dir, ["localhost", "127.0.0.1"]);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("first start creates every file, keys 0600; the second reuses them", async () => {
  for (const base of ["ca", "client-signer", "server", "agent-server"]) {
    assert.equal(statSync(join(dir, "certs", `${base}.key`)).mode & 0o777, 0o600, base);
  }
  const again = await ensurePki(dir, ["localhost", "127.0.0.1"]);
  assert.equal(again.root.certPem, pki.root.certPem);
  assert.equal(again.clientSigner.keyPem, pki.clientSigner.keyPem);
  assert.equal(again.agentServer.certPem, pki.agentServer.certPem);
  // New names re-issue the server certificates, not the CAs.
  const renamed = await ensurePki(dir, ["localhost", "127.0.0.1", "fleet.example.com"]);
  assert.notEqual(renamed.userServer.certPem, pki.userServer.certPem);
  assert.equal(renamed.root.certPem, pki.root.certPem);
  assert.match(openssl("x509", "-noout", "-ext", "subjectAltName", "-in", join(dir, "certs", "server.crt")), /fleet\.example\.com/);
});

test("openssl verifies both server certificates and the client-signer chain", () => {
  const ca = join(dir, "certs", "ca.crt");
  for (const c of ["server.crt", "agent-server.crt", "client-signer.crt"])
    assert.match(openssl("verify", "-CAfile", ca, join(dir, "certs", c)), /: OK/, c);
  assert.match(openssl("x509", "-noout", "-text", "-in", join(dir, "certs", "client-signer.crt")), /CA:TRUE, pathlen:0/);
  assert.match(openssl("x509", "-noout", "-text", "-in", ca), /ASN1 OID: prime256v1/);
});

test("client certificates chain through the client signer, carry the private extensions, and fail under a foreign CA", async () => {
  const keys = await generateDeviceKey();
  const name = await deviceNameFromPublicKey(keys.publicKey);
  const { certPem, notAfter } = await signClientCertificate(pki.clientSigner, {
    publicKey: keys.publicKey,
    commonName: `device:${name}`,
    signerName: "flightctl.io/device-enrollment",
    orgId: "00000000-0000-0000-0000-000000000000",
    deviceFingerprint: name,
    validitySeconds: 365 * 24 * 3600,
  });
  const leaf = file("leaf.crt", certPem);
  assert.match(
    openssl("verify", "-CAfile", join(dir, "certs", "ca.crt"), "-untrusted", join(dir, "certs", "client-signer.crt"), leaf),
    /: OK/,
  );
  assert.match(openssl("verify", "-CAfile", join(dir, "certs", "ca-bundle.crt"), leaf), /: OK/);
  const text = openssl("x509", "-noout", "-text", "-in", leaf);
  assert.match(text, /1\.3\.6\.1\.4\.1\.99999\.1\.1:\s*\n\s*.*flightctl\.io\/device-enrollment/);
  assert.match(text, /1\.3\.6\.1\.4\.1\.99999\.1\.3:\s*\n\s*.*[0-9a-v]{52}/);
  assert.match(text, /TLS Web Client Authentication/);
  const id = readCertIdentity(certPem);
  assert.deepEqual(
    [id.commonName, id.signerName, id.orgId, id.deviceFingerprint],
    [`device:${name}`, "flightctl.io/device-enrollment", "00000000-0000-0000-0000-000000000000", name],
  );
  assert.ok(Math.abs(notAfter.getTime() - Date.now() - 365 * 24 * 3600 * 1000) < 5 * 60_000);

  const foreign = await createCa("Someone Else");
  assert.throws(() => openssl("verify", "-CAfile", file("foreign.crt", foreign.certPem), leaf));
});

test("a client certificate never outlives its signer", async () => {
  const keys = await generateDeviceKey();
  const { notAfter } = await signClientCertificate(pki.clientSigner, {
    publicKey: keys.publicKey,
    commonName: "long",
    signerName: "flightctl.io/enrollment",
    orgId: "00000000-0000-0000-0000-000000000000",
    validitySeconds: 100 * 365 * 24 * 3600,
  });
  const signerEnd = new Date(openssl("x509", "-noout", "-enddate", "-in", join(dir, "certs", "client-signer.crt")).split("=")[1]);
  assert.ok(notAfter.getTime() <= signerEnd.getTime() + 1000);
});

test("an explicit start gives exactly the requested validity", async () => {
  const keys = await generateDeviceKey();
  const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000 - 3600_000);
  const { certPem, notAfter, serial } = await signClientCertificate(pki.clientSigner, {
    publicKey: keys.publicKey,
    commonName: "exact",
    signerName: "flightctl.io/enrollment",
    orgId: "00000000-0000-0000-0000-000000000000",
    validitySeconds: 86400,
    notBefore,
  });
  assert.equal(notAfter.getTime() - notBefore.getTime(), 86400_000);
  const id = readCertIdentity(certPem);
  assert.equal(id.notBefore.getTime(), notBefore.getTime());
  assert.equal(id.notAfter.getTime(), notAfter.getTime());
  assert.equal(id.deviceFingerprint, undefined);
  assert.equal(id.serial.toLowerCase(), serial);
});

test("extension bytes hidden inside another field are not read as an identity", () => {
  // A certificate whose only private-looking content is the DER of a signer extension inside an unrelated extension.
  const fakeValue = Buffer.concat([Buffer.from([0x0c, 30]), Buffer.from("flightctl.io/device-enrollment")]).subarray(0, 32);
  const inner = Buffer.concat([
    Buffer.from("060a2b0601040186 8d1f0101".replace(/ /g, ""), "hex"),
    Buffer.from([0x04, fakeValue.length]),
    fakeValue,
  ]);
  const ext = file("spoof.ext", `1.2.3.4=DER:${Buffer.concat([Buffer.from([0x30, inner.length]), inner]).toString("hex")}\n`);
  const key = file("spoof.key", openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout"));
  const csr = file("spoof.csr", openssl("req", "-new", "-key", key, "-subj", "/CN=spoof"));
  const signerCrt = file("signer.crt", pki.clientSigner.certPem);
  const signerKey = file("signer.key", pki.clientSigner.keyPem);
  const cert = openssl("x509", "-req", "-in", csr, "-CA", signerCrt, "-CAkey", signerKey, "-CAcreateserial", "-days", "1", "-extfile", ext);
  assert.match(cert.replace(/\s/g, ""), /^-----BEGINCERTIFICATE-----/);
  const id = readCertIdentity(cert);
  assert.equal(id.commonName, "spoof");
  assert.equal(id.signerName, undefined);
  assert.equal(id.orgId, undefined);
});

test("the device name is base32hex(sha256(X‖Y)) computed independently with openssl and python", async () => {
  const keys = await generateDeviceKey();
  const keyFile = file("device.key", keys.keyPem);
  const der = execFileSync("openssl", ["ec", "-in", keyFile, "-pubout", "-outform", "DER"], { stdio: ["pipe", "pipe", "pipe"] });
  const xy = der.subarray(der.length - 64);
  const digest = createHash("sha256").update(xy).digest("hex");
  const expected = execFileSync(
    "python3",
    ["-c", `import base64,sys;print(base64.b32hexencode(bytes.fromhex("${digest}")).decode().lower().rstrip("="))`],
    { encoding: "utf8" },
  ).trim();
  assert.equal(await deviceNameFromPublicKey(keys.publicKey), expected);
  assert.equal(expected.length, 52);
  const csr = await parseCsr(await createCsr(keys, expected));
  assert.deepEqual(
    [csr.commonName, csr.fingerprint, csr.legacyFingerprint, csr.publicKeyAlgorithm],
    [expected, expected, digest, "ECDSA P-256"],
  );
});

test("bad CSRs are refused with messages a person can act on", async () => {
  const keys = await generateDeviceKey();
  const good = await createCsr(keys, "dev");
  const rsaKey = file("rsa.key", openssl("genrsa", "1024"));
  const rsa1024 = openssl("req", "-new", "-key", rsaKey, "-subj", "/CN=weak");
  const noCn = openssl("req", "-new", "-key", file("ec.key", keys.keyPem), "-subj", "/O=nobody");
  // Flip one byte of the signature (the end of the DER): the proof of possession no longer verifies.
  const der = Buffer.from(good.replace(/-----[A-Z ]+-----/g, "").replace(/\s/g, ""), "base64");
  der[der.length - 3] ^= 0x01;
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64").replace(/(.{64})/g, "$1\n")}\n-----END CERTIFICATE REQUEST-----\n`;
  const cases: [string, string, RegExp][] = [
    ["garbage", "hello", /must be a PEM certificate signing request/],
    ["a certificate", pki.root.certPem, /is a certificate, not a certificate signing request/],
    ["bad base64 body", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", /not a valid PKCS#10/],
    ["tampered signature", tampered, /signature that does not verify/],
    ["RSA 1024", rsa1024, /at least 2048 bits, got 1024/],
    ["17 KiB", `${good}${" ".repeat(17 * 1024)}`, /larger than 16 KiB/],
    ["no CN", noCn, /no common name/],
  ];
  for (const [what, pem, message] of cases) {
    await assert.rejects(parseCsr(pem), (e: unknown) => e instanceof CsrError && message.test(e.message), what);
    // The validator gives the same message for everything but the signature (checked when the CSR is used).
    if (what !== "tampered signature") assert.match(pemCsrProblem(pem) ?? "", message, what);
  }
  assert.equal(pemCsrProblem(good), undefined);
  // P-384 and RSA 2048 are accepted.
  const rsa2048 = openssl("req", "-new", "-key", file("rsa2.key", openssl("genrsa", "2048")), "-subj", "/CN=rsa-ok");
  assert.equal((await parseCsr(rsa2048)).publicKeyAlgorithm, "RSA 2048");
  const p384 = openssl(
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-384",
    "-nodes",
    "-keyout",
    join(dir, "p384.key"),
    "-subj",
    "/CN=p384",
  );
  assert.equal((await parseCsr(p384)).publicKeyAlgorithm, "ECDSA P-384");
});

test("the identity read from a TLS peer's certificate (as the agent endpoint reads it) is the one read from its PEM", async () => {
  const keys = await generateDeviceKey();
  const name = await deviceNameFromPublicKey(keys.publicKey);
  const { certPem } = await signClientCertificate(pki.clientSigner, {
    publicKey: keys.publicKey,
    commonName: `device:${name}`,
    signerName: "flightctl.io/device-enrollment",
    orgId: "00000000-0000-0000-0000-0000000000aa",
    deviceFingerprint: name,
    validitySeconds: 3600,
  });
  const fromPem = readCertIdentity(certPem);
  const bundle = `${pki.root.certPem.trim()}\n${pki.clientSigner.certPem.trim()}\n`;
  const server = tls.createServer({ key: pki.agentServer.keyPem, cert: pki.agentServer.certPem, ca: bundle, requestCert: true });
  const peer = new Promise<tls.PeerCertificate>((resolve, reject) => {
    server.once("tlsClientError", reject);
    server.once("secureConnection", (s: tls.TLSSocket) => {
      resolve(s.getPeerCertificate());
      s.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const client = tls.connect({ port, host: "127.0.0.1", servername: "localhost", ca: bundle, cert: certPem, key: keys.keyPem });
  client.on("error", () => {});
  client.resume();
  const cert = await peer;
  client.destroy();
  server.close();
  // The cache is keyed by the input (the PEM's text, the peer's DER): this reads the peer's fields, not the PEM's entry.
  assert.deepEqual(readCertIdentity(cert), fromPem);
  assert.equal(fromPem.commonName, `device:${name}`);
  assert.equal(fromPem.orgId, "00000000-0000-0000-0000-0000000000aa");
});
