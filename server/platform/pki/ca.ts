// The service's own PKI: a root CA and a client-signer intermediate created on first start, and the server
// certificates of the user and agent endpoints issued from the root. ECDSA P-256 via @peculiar/x509 on Node's
// WebCrypto. Private keys are files with mode 0600 in the data dir (docs/auth.md says why files rather than
// encrypted rows).
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { webcrypto, randomBytes, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { alg, exportKey } from "../../../lib/csr.js";

// The key algorithm and the key export are lib's (the agent makes keys too); re-exported for the server's PKI.
export { alg, exportKey };
const DAY = 24 * 60 * 60 * 1000;

/** A certificate with its private key, both PEM. */
export interface KeyPair {
  certPem: string;
  keyPem: string;
}

/** Positive random serial (RFC 5280: at most 20 octets, non-negative); the first byte is never 0, so the hex is exactly what the certificate encodes. */
export const serial = () => {
  const b = randomBytes(16);
  b[0] = (b[0] & 0x3f) | 0x40;
  return b.toString("hex");
};

/** A PKCS#8 PEM ECDSA P-256 private key, for signing. */
export async function importKey(pem: string): Promise<CryptoKey> {
  return (await webcrypto.subtle.importKey("pkcs8", x509.PemConverter.decode(pem)[0], alg, false, ["sign"])) as CryptoKey;
}

const newKeys = async () => (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;

/** A self-signed CA certificate (10 years by default). */
export async function createCa(commonName: string, years = 10): Promise<KeyPair> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + years * 365 * DAY),
    keys,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await exportKey(keys.privateKey) };
}

/** An intermediate CA (path length 0) signed by `root`, 10 years by default. */
export async function createIntermediateCa(root: KeyPair, commonName: string, years = 10): Promise<KeyPair> {
  const keys = await newKeys();
  const rootCert = new x509.X509Certificate(root.certPem);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${commonName}`,
    issuer: rootCert.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Math.min(Date.now() + years * 365 * DAY, rootCert.notAfter.getTime())),
    publicKey: keys.publicKey,
    signingKey: await importKey(root.keyPem),
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.AuthorityKeyIdentifierExtension.create(rootCert),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await exportKey(keys.privateKey) };
}

/** A TLS server certificate for `names` (DNS names and IP addresses), signed by `ca`. */
export async function issueServerCert(ca: KeyPair, names: string[], days = 730): Promise<KeyPair> {
  const keys = await newKeys();
  const caCert = new x509.X509Certificate(ca.certPem);
  const ip = /^[\d.]+$|:/;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${names[0]}`,
    issuer: caCert.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + days * DAY),
    publicKey: keys.publicKey,
    signingKey: await importKey(ca.keyPem),
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names.map((n) => ({ type: (ip.test(n) ? "ip" : "dns") as x509.GeneralNameType, value: n }))),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await exportKey(keys.privateKey) };
}

function readPair(dir: string, base: string): KeyPair | undefined {
  const cert = join(dir, `${base}.crt`);
  const key = join(dir, `${base}.key`);
  if (!existsSync(cert) || !existsSync(key)) return undefined;
  return { certPem: readFileSync(cert, "utf8"), keyPem: readFileSync(key, "utf8") };
}

function writePair(dir: string, base: string, pair: KeyPair) {
  writeFileSync(join(dir, `${base}.key`), pair.keyPem, { mode: 0o600 });
  chmodSync(join(dir, `${base}.key`), 0o600);
  writeFileSync(join(dir, `${base}.crt`), pair.certPem, { mode: 0o644 });
}

/** Whether `pem` is valid for 30 more days and was issued for exactly `names` (recorded beside it at issue time). */
function stillGood(pem: string, namesFile: string, names: string[]): boolean {
  const cert = new X509Certificate(pem);
  if (new Date(cert.validTo).getTime() - Date.now() < 30 * DAY) return false;
  return existsSync(namesFile) && readFileSync(namesFile, "utf8") === JSON.stringify(names);
}

/** The names the user endpoint's certificate covers: the local ones and `extra` (FLIGHTCTL_API_SANS). */
export function serverNames(extra: string[] = []): string[] {
  const names = ["localhost", "127.0.0.1", "::1", hostname(), ...extra];
  return [...new Set(names)];
}

export interface Pki {
  /** Root CA certificate: what users' clients trust. */
  caPath: string;
  /** Root + client signer: what agents trust and the agent endpoint verifies client certificates against. */
  bundlePath: string;
  root: KeyPair;
  clientSigner: KeyPair;
  userServer: KeyPair;
  agentServer: KeyPair;
}

/** Loads a key pair from `dir`, creating it with `make` on first start. */
async function loadOrCreate(dir: string, base: string, make: () => Promise<KeyPair>): Promise<KeyPair> {
  const existing = readPair(dir, base);
  if (existing) return existing;
  const pair = await make();
  writePair(dir, base, pair);
  return pair;
}

/** A server certificate for `names`, re-issued when the names changed or it expires within 30 days. */
async function serverCert(dir: string, base: string, root: KeyPair, names: string[]): Promise<KeyPair> {
  const namesFile = join(dir, `${base}.names.json`);
  const current = readPair(dir, base);
  if (current && stillGood(current.certPem, namesFile, names)) return current;
  const pair = await issueServerCert(root, names);
  writePair(dir, base, pair);
  writeFileSync(namesFile, JSON.stringify(names));
  return pair;
}

/**
 * Loads the PKI from `<dataDir>/certs`, creating the CAs on first start and (re-)issuing the endpoints' server
 * certificates as needed.
 */
export async function ensurePki(dataDir: string, names = serverNames()): Promise<Pki> {
  const dir = join(dataDir, "certs");
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const root = await loadOrCreate(dir, "ca", () => createCa("Flight Control Root CA"));
  const clientSigner = await loadOrCreate(dir, "client-signer", () => createIntermediateCa(root, "Flight Control Client Signer"));
  const bundlePath = join(dir, "ca-bundle.crt");
  const bundle = `${root.certPem.trim()}\n${clientSigner.certPem.trim()}\n`;
  if (!existsSync(bundlePath) || readFileSync(bundlePath, "utf8") !== bundle) writeFileSync(bundlePath, bundle, { mode: 0o644 });
  return {
    caPath: join(dir, "ca.crt"),
    bundlePath,
    root,
    clientSigner,
    userServer: await serverCert(dir, "server", root, names),
    agentServer: await serverCert(dir, "agent-server", root, names),
  };
}
