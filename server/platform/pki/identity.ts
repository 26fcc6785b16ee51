// Identity carried by a client certificate: common name, and flightctl's signer / organization / device
// extensions. Runs on agent-endpoint calls (after TLS verified the certificate), so it uses Node's native parser for
// the subject and a minimal DER walk for the extensions; results are cached by certificate.
import { createHash, X509Certificate } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import { children, tlv } from "../../../lib/der.js";
import { Lru } from "../lru.js";
import { OID_DEVICE_FINGERPRINT, OID_ORG_ID, OID_SIGNER } from "./signer.js";

export interface CertIdentity {
  commonName: string;
  signerName?: string;
  orgId?: string;
  deviceFingerprint?: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

/** Content bytes of an OBJECT IDENTIFIER (base-128 arcs). */
function oidBytes(oid: string): Buffer {
  const arcs = oid.split(".").map(Number);
  const body: number[] = [40 * arcs[0] + arcs[1]];
  for (const arc of arcs.slice(2)) {
    const bytes = [arc & 0x7f];
    for (let v = arc >>> 7; v > 0; v >>>= 7) bytes.unshift((v & 0x7f) | 0x80);
    body.push(...bytes);
  }
  return Buffer.from(body);
}

const WANTED = { signerName: oidBytes(OID_SIGNER), orgId: oidBytes(OID_ORG_ID), deviceFingerprint: oidBytes(OID_DEVICE_FINGERPRINT) };
type Wanted = keyof typeof WANTED;

/**
 * flightctl's string extensions, found structurally (Certificate → tbsCertificate → [3] extensions), so bytes inside
 * other fields (an RSA modulus, another extension's value) can never pass for one.
 */
function privateExtensions(der: Buffer): Partial<Record<Wanted, string>> {
  const out: Partial<Record<Wanted, string>> = {};
  const cert = tlv(der, 0, der.length);
  const tbs = tlv(der, cert.start, cert.end);
  const explicit = children(der, tbs).find((c) => c.tag === 0xa3);
  if (!explicit) return out;
  for (const ext of children(der, tlv(der, explicit.start, explicit.end))) {
    const parts = children(der, ext);
    if (parts[0]?.tag !== 0x06) continue;
    const id = der.subarray(parts[0].start, parts[0].end);
    const name = (Object.keys(WANTED) as Wanted[]).find((k) => WANTED[k].equals(id));
    const value = parts[parts.length - 1];
    if (!name || value.tag !== 0x04) continue;
    const str = tlv(der, value.start, value.end);
    if ([0x0c, 0x13, 0x16].includes(str.tag)) out[name] = der.subarray(str.start, str.end).toString("utf8");
  }
  return out;
}

const cache = new Lru<string, CertIdentity>(20_000);

/** What `readCertIdentity` takes from a parsed certificate: an X509Certificate's fields, or a TLS peer's. */
interface Fields {
  der: Buffer;
  commonName: string | undefined;
  serial: string;
  notBefore: string;
  notAfter: string;
}

const isPeerCertificate = (c: unknown): c is PeerCertificate =>
  typeof c === "object" && c !== null && !(c instanceof X509Certificate) && Buffer.isBuffer((c as PeerCertificate).raw);

function fieldsOf(x: X509Certificate): Fields {
  return {
    der: x.raw,
    commonName: x.subject
      .split("\n")
      .find((l) => l.startsWith("CN="))
      ?.slice(3),
    serial: x.serialNumber,
    notBefore: x.validFrom,
    notAfter: x.validTo,
  };
}

/**
 * Reads a certificate's identity: PEM, DER, one already parsed, or the object TLSSocket#getPeerCertificate() gives
 * (the TLS layer's own parse, which the agent endpoint uses: a connecting agent's certificate is new, and making an
 * X509Certificate of it, or parsing it a second time, cost the API ≈ 0.1–0.5 ms of CPU per connection).
 */
export function readCertIdentity(cert: string | Buffer | Uint8Array | X509Certificate | PeerCertificate): CertIdentity {
  const peer = isPeerCertificate(cert) ? cert : undefined;
  const parsed = cert instanceof X509Certificate ? cert : undefined;
  const input = peer ? peer.raw : parsed ? parsed.raw : typeof cert === "string" ? cert : Buffer.from(cert as Uint8Array);
  const key = createHash("sha256").update(input).digest("base64");
  const hit = cache.get(key);
  if (hit) return hit;
  const f: Fields = peer
    ? {
        der: peer.raw,
        // Several CNs come as an array; the X509Certificate path takes the first as well.
        commonName: [peer.subject?.CN ?? []].flat()[0],
        serial: peer.serialNumber,
        notBefore: peer.valid_from,
        notAfter: peer.valid_to,
      }
    : fieldsOf(parsed ?? new X509Certificate(input));
  const id: CertIdentity = {
    commonName: f.commonName ?? "",
    ...privateExtensions(f.der),
    serial: f.serial,
    notBefore: new Date(f.notBefore),
    notAfter: new Date(f.notAfter),
  };
  cache.set(key, id);
  return id;
}
