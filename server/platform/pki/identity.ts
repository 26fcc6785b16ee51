// Identity carried by a client certificate: common name, and flightctl's signer / organization / device
// extensions. Runs on every agent-endpoint call, so results are cached by certificate.
import "reflect-metadata";
import { createHash } from "node:crypto";
import * as x509 from "@peculiar/x509";
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

/** The text of a DER UTF8String / PrintableString / IA5String extension value. */
function derString(value: ArrayBuffer): string | undefined {
  const b = Buffer.from(value);
  if (b.length < 2 || ![0x0c, 0x13, 0x16].includes(b[0])) return undefined;
  let len = b[1];
  let off = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | b[2 + i];
    off = 2 + n;
  }
  return b.subarray(off, off + len).toString("utf8");
}

const cache = new Lru<string, CertIdentity>(20_000);

/** Reads a certificate's identity (PEM, DER, or @peculiar/x509 object). */
export function readCertIdentity(cert: string | Buffer | Uint8Array): CertIdentity {
  const der = typeof cert === "string" ? Buffer.from(x509.PemConverter.decode(cert)[0]) : Buffer.from(cert);
  const key = createHash("sha256").update(der).digest("base64");
  const hit = cache.get(key);
  if (hit) return hit;
  const c = new x509.X509Certificate(der);
  const ext = (oid: string) => {
    const e = c.getExtension(oid);
    return e ? derString(e.value) : undefined;
  };
  const id: CertIdentity = {
    commonName: c.subjectName.getField("CN")[0] ?? "",
    signerName: ext(OID_SIGNER),
    orgId: ext(OID_ORG_ID),
    deviceFingerprint: ext(OID_DEVICE_FINGERPRINT),
    serial: c.serialNumber,
    notBefore: c.notBefore,
    notAfter: c.notAfter,
  };
  cache.set(key, id);
  return id;
}
