// Client certificates from the client signer, with flightctl's private extensions that say which signer issued
// them, for which organization and (device certificates) which device.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { alg, importKey, serial, type KeyPair } from "./ca.js";

/** flightctl's private extension OIDs. */
export const OID_SIGNER = "1.3.6.1.4.1.99999.1.1";
export const OID_ORG_ID = "1.3.6.1.4.1.99999.1.2";
export const OID_DEVICE_FINGERPRINT = "1.3.6.1.4.1.99999.1.3";

/** DER UTF8String holding `s` (the value of each private extension). */
function utf8String(s: string): ArrayBuffer {
  const body = Buffer.from(s, "utf8");
  const len =
    body.length < 0x80
      ? Buffer.from([body.length])
      : body.length < 0x100
        ? Buffer.from([0x81, body.length])
        : Buffer.from([0x82, body.length >> 8, body.length & 0xff]);
  const der = Buffer.concat([Buffer.from([0x0c]), len, body]);
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.length) as ArrayBuffer;
}

export interface ClientCertificateRequest {
  /** Public key from the CSR (or a WebCrypto key). */
  publicKey: x509.PublicKey | CryptoKey;
  commonName: string;
  signerName: string;
  orgId: string;
  deviceFingerprint?: string;
  validitySeconds: number;
  /** Start of validity (default: a minute ago, for clock skew). */
  notBefore?: Date;
}

/** The parsed CA, its imported key and its key identifier: the same for every certificate it signs. */
const prepared = new Map<string, Promise<{ caCert: x509.X509Certificate; key: CryptoKey; aki: x509.AuthorityKeyIdentifierExtension }>>();

function prepare(signerCa: KeyPair) {
  let p = prepared.get(signerCa.certPem);
  if (!p) {
    p = (async () => {
      const caCert = new x509.X509Certificate(signerCa.certPem);
      return { caCert, key: await importKey(signerCa.keyPem), aki: await x509.AuthorityKeyIdentifierExtension.create(caCert) };
    })();
    prepared.set(signerCa.certPem, p);
  }
  return p;
}

/** Signs a TLS client certificate with `signerCa`; validity is capped at the CA's own expiry. */
export async function signClientCertificate(
  signerCa: KeyPair,
  req: ClientCertificateRequest,
): Promise<{ certPem: string; serial: string; notAfter: Date }> {
  const { caCert, key, aki } = await prepare(signerCa);
  // Validity counts from now (or the given start); the default start is back-dated a minute for clock skew.
  const start = req.notBefore?.getTime() ?? Date.now();
  const notBefore = req.notBefore ?? new Date(start - 60_000);
  const notAfter = new Date(Math.min(start + req.validitySeconds * 1000, caCert.notAfter.getTime()));
  const serialNumber = serial();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    aki,
    await x509.SubjectKeyIdentifierExtension.create(req.publicKey),
    new x509.Extension(OID_SIGNER, false, utf8String(req.signerName)),
    new x509.Extension(OID_ORG_ID, false, utf8String(req.orgId)),
  ];
  if (req.deviceFingerprint) extensions.push(new x509.Extension(OID_DEVICE_FINGERPRINT, false, utf8String(req.deviceFingerprint)));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber,
    subject: [{ CN: [req.commonName] }],
    issuer: caCert.subject,
    notBefore,
    notAfter,
    publicKey: req.publicKey,
    signingKey: key,
    signingAlgorithm: alg,
    extensions,
  });
  return { certPem: cert.toString("pem"), serial: serialNumber, notAfter };
}
