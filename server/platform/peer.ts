// The TLS peer of an agent-endpoint request, as the connection saw it (set per request by the endpoint).
import type { PeerCertificate } from "node:tls";
import { createContextKey } from "@connectrpc/connect";

export interface Peer {
  /** DER of the client certificate, when one was sent. */
  raw?: Buffer;
  /** The same certificate as the TLS layer parsed it, when at hand (its identity is then read without parsing again). */
  cert?: PeerCertificate;
  /** Whether the certificate chains to the endpoint's CA bundle and is within its validity. */
  authorized: boolean;
  /** Why it did not verify (e.g. CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE). */
  authorizationError?: string;
}

export const peerKey = createContextKey<Peer>({ authorized: false }, { description: "TLS peer" });
