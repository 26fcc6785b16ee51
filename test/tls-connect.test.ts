// The agent's TLS connection checks what tls.connect checks: a server whose certificate is for another name, or signed
// by another CA, is refused with Node's own errors; the right one is accepted by name or by IP address, over h2; after
// the handshake, getPeerCertificate(true) gives the whole chain again.
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import tls from "node:tls";
import { createCa, issueServerCert } from "../server/platform/pki/ca.js";
import { connectTls } from "../agent/tls-connect.js";

const servers: tls.Server[] = [];
let ca = "";
/** Ports of servers whose certificate is for localhost + 127.0.0.1, for another name, and from another CA. */
const port = { right: 0, otherName: 0, otherCa: 0 };

async function serve(cert: { certPem: string; keyPem: string }): Promise<number> {
  const server = tls.createServer({ cert: cert.certPem, key: cert.keyPem, ALPNProtocols: ["h2"] }, (s) => s.on("error", () => {}).end());
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

before(async () => {
  const root = await createCa("tls-connect-test-ca");
  const other = await createCa("another-ca");
  ca = root.certPem;
  port.right = await serve(await issueServerCert(root, ["localhost", "127.0.0.1"]));
  port.otherName = await serve(await issueServerCert(root, ["elsewhere.example"]));
  port.otherCa = await serve(await issueServerCert(other, ["localhost", "127.0.0.1"]));
});

after(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
});

/** Connects and resolves with the socket once secure, or rejects with the connection's error. */
function connect(url: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connectTls(new URL(url), { ca });
    socket.once("secureConnect", () => resolve(socket));
    socket.once("error", reject);
  });
}

test("the right server is accepted by name and by address, over h2, and the full chain is readable after", async () => {
  for (const host of ["localhost", "127.0.0.1"]) {
    const socket = await connect(`https://${host}:${port.right}`);
    try {
      assert.equal(socket.authorized, true);
      assert.equal(socket.alpnProtocol, "h2");
      const chain = socket.getPeerCertificate(true);
      assert.equal(chain.issuerCertificate?.subject.CN, "tls-connect-test-ca");
      assert.ok(!Object.hasOwn(socket, "getPeerCertificate"), "the prototype's method is back");
    } finally {
      socket.destroy();
    }
  }
});

test("a certificate for another name is refused as tls.connect refuses it", async () => {
  await assert.rejects(connect(`https://localhost:${port.otherName}`), { code: "ERR_TLS_CERT_ALTNAME_INVALID" });
  await assert.rejects(connect(`https://127.0.0.1:${port.otherName}`), { code: "ERR_TLS_CERT_ALTNAME_INVALID" });
});

test("a certificate from another CA is refused before any name check", async () => {
  await assert.rejects(connect(`https://localhost:${port.otherCa}`), { code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" });
});
