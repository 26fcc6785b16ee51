// The device's identity: an ECDSA key made once (its fingerprint is the device name), the CSR sent at enrollment
// (kept so a restarted agent sends the same one), and the management certificate received on approval. Files are
// 0600 under <data dir>/certs.
import { webcrypto } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { createCsr, deviceNameFromSpki, generateDeviceKey, spkiOfPrivateKey } from "../lib/csr.js";
import { certificateValidity, pemBody } from "../lib/der.js";

const alg = { name: "ECDSA", namedCurve: "P-256" } as const;

export interface Identity {
  name: string;
  keyPem: string;
  /** The key as WebCrypto keys, for CSRs (enrollment, renewal): imported when first asked for, then kept. */
  keys(): Promise<{ privateKey: CryptoKey; publicKey: CryptoKey }>;
  certsDir: string;
}

// Importing the key into WebCrypto is most of an agent's start-up CPU, and only CSRs need it (a simulator starting
// thousands of enrolled agents needs none): done on demand.
async function importPair(keyPem: string, spki: Buffer) {
  const der = x509.PemConverter.decode(keyPem)[0];
  const privateKey = (await webcrypto.subtle.importKey("pkcs8", der, { ...alg }, true, ["sign"])) as CryptoKey;
  const publicKey = (await webcrypto.subtle.importKey("spki", spki, { ...alg }, true, ["verify"])) as CryptoKey;
  return { privateKey, publicKey };
}

/** Loads the device key from the data dir, creating it on first start. */
export async function loadIdentity(dataDir: string): Promise<Identity> {
  const certsDir = join(dataDir, "certs");
  const keyFile = join(certsDir, "agent.key");
  // Every start but the first finds its key: no directory or existence check before it (a simulator starts
  // thousands of agents).
  try {
    chmodSync(keyFile, 0o600); // a key copied in, or left by an older version, is made private again
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    mkdirSync(certsDir, { recursive: true, mode: 0o700 });
    writeFileSync(keyFile, (await generateDeviceKey()).keyPem, { mode: 0o600 });
  }
  const keyPem = readFileSync(keyFile, "utf8");
  const spki = spkiOfPrivateKey(keyPem);
  let keys: ReturnType<Identity["keys"]> | undefined;
  return { name: deviceNameFromSpki(spki), keyPem, keys: () => (keys ??= importPair(keyPem, spki)), certsDir };
}

/** The CSR for enrollment: the persisted one when its CN is still the device name, else a new one. */
export async function enrollmentCsr(id: Identity): Promise<string> {
  const file = join(id.certsDir, "agent.csr");
  if (existsSync(file)) {
    const pem = readFileSync(file, "utf8");
    try {
      if (new x509.Pkcs10CertificateRequest(pem).subjectName.getField("CN")[0] === id.name) return pem;
    } catch {
      // unreadable: make a new one
    }
  }
  const pem = await createCsr(await id.keys(), id.name);
  writeFileSync(file, pem, { mode: 0o600 });
  return pem;
}

export const certPath = (id: Identity) => join(id.certsDir, "agent.crt");

/** The management certificate, if one is held (an enrolled agent's every start: read without an existence check). */
export function readCertificate(id: Identity): string | undefined {
  try {
    return readFileSync(certPath(id), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

export function saveCertificate(id: Identity, pem: string) {
  writeFileSync(certPath(id), pem, { mode: 0o600 });
  rmSync(join(id.certsDir, "agent.csr"), { force: true });
}

/** Forgets the certificate (the device was deleted: enroll again with the same key). */
export function dropCertificate(id: Identity) {
  rmSync(certPath(id), { force: true });
}

// Status reports read the certificate's validity each time, and a certificate only changes on renewal. Read from the
// DER (lib/der.ts): an X509Certificate parse was 0.3 ms of a simulated agent's start (OpenSSL 3's key decoder).
const validityCache = new Map<string, { notBefore: Date; notAfter: Date; serial: string }>();

/** Validity of a PEM certificate. */
export function validity(pem: string): { notBefore: Date; notAfter: Date; serial: string } {
  let v = validityCache.get(pem);
  if (!v) {
    v = certificateValidity(pemBody(pem, "CERTIFICATE"));
    if (validityCache.size >= 50_000) validityCache.clear();
    validityCache.set(pem, v);
  }
  return v;
}

/** flightctl's rule (renewBefore = 75 % of the lifetime): renew once less than 75 % of the lifetime remains. */
export function renewalDue(pem: string, now = Date.now()): boolean {
  const { notBefore, notAfter } = validity(pem);
  const lifetime = notAfter.getTime() - notBefore.getTime();
  return notAfter.getTime() - now < 0.75 * lifetime;
}
