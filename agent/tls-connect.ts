// The agent's TLS connection for http2.connect (its `createConnection`): what http2.connect would open itself (ALPN h2,
// the host as SNI name), with one cost left out. After the handshake Node checks the server's name
// (tls.checkServerIdentity) on `getPeerCertificate(true)`: the leaf AND every issuer up to the root, each turned into
// a full object (names, public key, three fingerprints, DER copy), found again through the trust store. The check
// reads only the leaf's subject and alternative names, and the chain was already verified against the CA by OpenSSL
// during the handshake (Node fails the connection on that result first). Walking the chain was 0.42 of the 0.44 ms the
// read took per connection (RESULTS.md, branch connect): for the check, the read returns the leaf alone. Same checks,
// same certificate, same errors.
import { isIP } from "node:net";
import tls from "node:tls";

export function connectTls(authority: URL, options: tls.ConnectionOptions): tls.TLSSocket {
  const host = authority.hostname.startsWith("[") ? authority.hostname.slice(1, -1) : authority.hostname || "localhost";
  const port = Number(authority.port || 443);
  const socket = tls.connect({
    ...options,
    host,
    port,
    servername: options.servername ?? (isIP(host) ? undefined : host),
    ALPNProtocols: ["h2"],
  });
  // tls.connect's own 'secure' listener (the checks) was added before this returned: it runs first, then this one
  // puts the method back, whatever the checks decided.
  // (Typed as the detailed read: the check takes it as one, and reads no issuer.)
  socket.getPeerCertificate = leafOnly as tls.TLSSocket["getPeerCertificate"];
  socket.once("secure", () => delete (socket as Partial<tls.TLSSocket>).getPeerCertificate);
  return socket;
}

function leafOnly(this: tls.TLSSocket): tls.PeerCertificate {
  return tls.TLSSocket.prototype.getPeerCertificate.call(this, false);
}
