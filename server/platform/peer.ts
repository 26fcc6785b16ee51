// The TLS peer of an agent-endpoint request, as the connection saw it (set per request by the endpoint).
import { createHash } from "node:crypto";
import type { PeerCertificate, TLSSocket } from "node:tls";
import { createContextKey } from "@connectrpc/connect";

export interface Peer {
  /** DER of the client certificate, when one was sent (until `releaseCertificate`). */
  raw?: Buffer;
  /** SHA-256 (hex) of `raw`: see `peerFingerprint`. */
  fingerprint?: string;
  /** The same certificate as the TLS layer parsed it, when at hand (its identity is then read without parsing again). */
  cert?: PeerCertificate;
  /** Whether the certificate chains to the endpoint's CA bundle and is within its validity. */
  authorized: boolean;
  /** Why it did not verify (e.g. CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE). */
  authorizationError?: string;
}

export const peerKey = createContextKey<Peer>({ authorized: false }, { description: "TLS peer" });

/**
 * What a TLS socket's peer presented. getPeerCertificate() gives the leaf as the TLS layer parsed it (subject, serial,
 * validity, DER; {} when none was sent): its identity is then read from that parse (pki/identity.ts), and it cost a
 * third to a half of getPeerX509Certificate() per connection (0.06–0.09 against 0.19–0.24 ms).
 */
export function peerOfSocket(sock: TLSSocket): Peer {
  const cert = sock.getPeerCertificate?.();
  const raw = cert?.raw;
  return {
    raw,
    cert: raw ? cert : undefined,
    authorized: sock.authorized === true,
    authorizationError: sock.authorizationError ? String(sock.authorizationError) : undefined,
  };
}

/** SHA-256 (hex) of the client certificate (per-certificate rate limits), once per connection. */
export function peerFingerprint(peer: Peer): string | undefined {
  if (peer.fingerprint === undefined && peer.raw) {
    peer.fingerprint = createHash("sha256").update(peer.raw).digest("hex");
  }
  return peer.fingerprint;
}

/**
 * Drops the certificate once its identity was read (agent-auth-interceptor.ts): a connection lives for hours, and its
 * DER (≈ 0.7 KB with its Buffer objects) and parse are not needed again; the fingerprint is kept.
 */
export function releaseCertificate(peer: Peer) {
  peerFingerprint(peer);
  peer.raw = undefined;
  peer.cert = undefined;
}
