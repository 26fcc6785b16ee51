// Identity carried by a client certificate: common name, and flightctl's signer / organization / device
// extensions. Runs on agent-endpoint calls (after TLS verified the certificate), so it uses Node's native parser for
// the subject and finds the extensions by their DER-encoded OIDs; results are cached by certificate.
import { createHash, X509Certificate } from "node:crypto";
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

/** DER of an OBJECT IDENTIFIER (tag, length, base-128 arcs). */
function oidDer(oid: string): Buffer {
  const arcs = oid.split(".").map(Number);
  const body: number[] = [40 * arcs[0] + arcs[1]];
  for (const arc of arcs.slice(2)) {
    const bytes = [arc & 0x7f];
    for (let v = arc >>> 7; v > 0; v >>>= 7) bytes.unshift((v & 0x7f) | 0x80);
    body.push(...bytes);
  }
  return Buffer.from([0x06, body.length, ...body]);
}

/** Length and header size of the DER element at `i`. */
function tl(b: Buffer, i: number): { len: number; head: number } {
  const first = b[i + 1];
  if (first < 0x80) return { len: first, head: 2 };
  const n = first & 0x7f;
  let len = 0;
  for (let k = 0; k < n; k++) len = (len << 8) | b[i + 2 + k];
  return { len, head: 2 + n };
}

const EXTENSIONS = { signerName: oidDer(OID_SIGNER), orgId: oidDer(OID_ORG_ID), deviceFingerprint: oidDer(OID_DEVICE_FINGERPRINT) };

/** The string value of extension `oid` in certificate DER: OID, optional critical flag, OCTET STRING(UTF8String). */
function extensionString(der: Buffer, oid: Buffer): string | undefined {
  let i = der.indexOf(oid);
  if (i < 0) return undefined;
  i += oid.length;
  if (der[i] === 0x01) i += 3; // critical BOOLEAN
  if (der[i] !== 0x04) return undefined;
  i += tl(der, i).head;
  if (![0x0c, 0x13, 0x16].includes(der[i])) return undefined;
  const { len, head } = tl(der, i);
  return der.subarray(i + head, i + head + len).toString("utf8");
}

const cache = new Lru<string, CertIdentity>(20_000);

/** Reads a certificate's identity (PEM or DER). */
export function readCertIdentity(cert: string | Buffer | Uint8Array): CertIdentity {
  const input = typeof cert === "string" ? cert : Buffer.from(cert);
  const key = createHash("sha256").update(input).digest("base64");
  const hit = cache.get(key);
  if (hit) return hit;
  const x = new X509Certificate(input);
  const der = x.raw;
  const cn = x.subject.split("\n").find((l) => l.startsWith("CN="));
  const id: CertIdentity = {
    commonName: cn ? cn.slice(3) : "",
    signerName: extensionString(der, EXTENSIONS.signerName),
    orgId: extensionString(der, EXTENSIONS.orgId),
    deviceFingerprint: extensionString(der, EXTENSIONS.deviceFingerprint),
    serial: x.serialNumber,
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
  };
  cache.set(key, id);
  return id;
}
