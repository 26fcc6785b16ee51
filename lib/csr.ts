// Certificate signing requests: parsing with clear, user-facing errors (the caller's input), the device name
// derived from a public key, and the agent side (key generation, CSR creation) shared by agents, CLI and tests.
import "reflect-metadata";
import { createHash, createPublicKey, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { pemBody } from "./der.js";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

/** The key algorithm of every key this project makes (device keys, its CAs): ECDSA P-256 with SHA-256. */
export const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** A private key as PKCS#8 PEM (how keys are stored). */
export async function exportKey(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", key as webcrypto.CryptoKey), "PRIVATE KEY");
}

/** Largest CSR accepted (a P-256 CSR is about 0.5 KiB; RSA-4096 about 1.7 KiB). */
export const MAX_CSR_BYTES = 16 * 1024;

/** A CSR the service cannot use; the message is meant for the caller. */
export class CsrError extends Error {}

export interface ParsedCsr {
  commonName: string;
  /** The CSR's public key, ready for signing (no WebCrypto import needed). */
  publicKey: x509.PublicKey;
  /** "ECDSA P-256", "RSA 2048", ... */
  publicKeyAlgorithm: string;
  /** Device name the key stands for (see deviceNameFromSpki). */
  fingerprint: string;
  /** The same SHA-256 in hex: the device names of older flightctl agents (and of its example files). */
  legacyFingerprint: string;
}

const BASE32HEX = "0123456789abcdefghijklmnopqrstuv";

/** Lowercase base32hex (RFC 4648 §7) without padding. */
export function base32hexLower(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32HEX[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32HEX[(value << (5 - bits)) & 31];
  return out;
}

/** The fixed DER prefix of every P-256 SubjectPublicKeyInfo with an uncompressed point (04‖X‖Y follows). */
const P256_SPKI_PREFIX = Buffer.from("3059301306072a8648ce3d020106082a8648ce3d03010703420004", "hex");

/** Key material and a description from SPKI DER; throws CsrError for unsupported keys. */
function describeSpki(spki: Buffer): { raw: Buffer; algorithm: string } {
  // Fast path for the common case (every agent key): no key import needed.
  if (spki.length === P256_SPKI_PREFIX.length + 64 && spki.subarray(0, P256_SPKI_PREFIX.length).equals(P256_SPKI_PREFIX)) {
    return { raw: spki.subarray(P256_SPKI_PREFIX.length), algorithm: "ECDSA P-256" };
  }
  const jwk = createPublicKey({ key: spki, format: "der", type: "spki" }).export({ format: "jwk" });
  if (jwk.kty === "EC") {
    if (jwk.crv !== "P-256" && jwk.crv !== "P-384") throw new CsrError(`unsupported elliptic curve ${jwk.crv}; use P-256 or P-384`);
    return { raw: Buffer.concat([Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url")]), algorithm: `ECDSA ${jwk.crv}` };
  }
  if (jwk.kty === "RSA") {
    const n = Buffer.from(jwk.n!, "base64url");
    const bits = (n[0] === 0 ? n.length - 1 : n.length) * 8;
    if (bits < 2048) throw new CsrError(`RSA keys must have at least 2048 bits, got ${bits}`);
    return { raw: n, algorithm: `RSA ${bits}` };
  }
  throw new CsrError(`unsupported key type ${jwk.kty}; use ECDSA P-256`);
}

/** The fixed DER of a P-256 key in PKCS#8 as WebCrypto and OpenSSL write it: this prefix, the 32-byte scalar, then
 * the public point (04‖X‖Y) after PKCS8_P256_POINT_TAG. */
const PKCS8_P256_PREFIX = Buffer.from("308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420", "hex");
const PKCS8_P256_POINT_TAG = Buffer.from("a14403420004", "hex");

/**
 * The SPKI DER of a PEM private key. A P-256 PKCS#8 key (every key this project makes) carries its public point:
 * copied out, since OpenSSL 3's PEM decoder costs about a millisecond per key, a simulator's agent start. Any other
 * key is decoded.
 */
export function spkiOfPrivateKey(keyPem: string): Buffer {
  const der = keyPem.includes("-----BEGIN PRIVATE KEY-----") ? pemBody(keyPem, "PRIVATE KEY") : undefined;
  const at = PKCS8_P256_PREFIX.length + 32;
  if (
    der?.length === at + PKCS8_P256_POINT_TAG.length + 64 &&
    der.subarray(0, PKCS8_P256_PREFIX.length).equals(PKCS8_P256_PREFIX) &&
    der.subarray(at, at + PKCS8_P256_POINT_TAG.length).equals(PKCS8_P256_POINT_TAG)
  )
    return Buffer.concat([P256_SPKI_PREFIX, der.subarray(at + PKCS8_P256_POINT_TAG.length)]);
  return createPublicKey(keyPem).export({ format: "der", type: "spki" });
}

/** Device name for an SPKI public key: base32hex (lowercase, no padding) of SHA-256 of X‖Y (EC) or N (RSA). */
export function deviceNameFromSpki(spki: Buffer): string {
  return base32hexLower(createHash("sha256").update(describeSpki(spki).raw).digest());
}

/** Device name for a public key (52 characters for any key: SHA-256 is 32 bytes). */
export async function deviceNameFromPublicKey(key: CryptoKey): Promise<string> {
  return deviceNameFromSpki(Buffer.from(await webcrypto.subtle.exportKey("spki", key as webcrypto.CryptoKey)));
}

/** A CSR that passed every check except proof of possession (see checkCsr). */
export interface CheckedCsr {
  csr: x509.Pkcs10CertificateRequest;
  commonName: string;
  publicKeyAlgorithm: string;
  /** X‖Y (EC) or N (RSA): what the device name hashes. */
  raw: Buffer;
}

/** Synchronous CSR checks (size, format, key type, common name), for validators; throws CsrError. */
export function checkCsr(input: string): CheckedCsr {
  if (Buffer.byteLength(input) > MAX_CSR_BYTES) throw new CsrError(`is larger than ${MAX_CSR_BYTES / 1024} KiB`);
  // Trailing blanks on PEM lines are common in hand-written YAML (flightctl's own examples have them).
  const pem = input
    .split("\n")
    .map((l) => l.trim())
    .join("\n");
  if (/-----BEGIN CERTIFICATE-----/.test(pem)) throw new CsrError("is a certificate, not a certificate signing request");
  if (!/-----BEGIN (NEW )?CERTIFICATE REQUEST-----/.test(pem))
    throw new CsrError('must be a PEM certificate signing request ("-----BEGIN CERTIFICATE REQUEST-----")');
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch {
    throw new CsrError("is not a valid PKCS#10 certificate signing request");
  }
  let described: { raw: Buffer; algorithm: string };
  try {
    described = describeSpki(Buffer.from(csr.publicKey.rawData));
  } catch (e) {
    if (e instanceof CsrError) throw e;
    throw new CsrError("has a public key that cannot be read");
  }
  const commonName = csr.subjectName.getField("CN")[0];
  if (!commonName) throw new CsrError("has no common name (CN) in its subject");
  return { csr, commonName, publicKeyAlgorithm: described.algorithm, raw: described.raw };
}

/** Parses and checks a PEM PKCS#10 CSR: size, format, key type, common name, proof of possession. */
export async function parseCsr(input: string): Promise<ParsedCsr> {
  const { csr, commonName, publicKeyAlgorithm, raw } = checkCsr(input);
  let verified = false;
  try {
    verified = await csr.verify();
  } catch {
    verified = false;
  }
  if (!verified) throw new CsrError("has a signature that does not verify with its own public key");
  const digest = createHash("sha256").update(raw).digest();
  return {
    commonName,
    publicKey: csr.publicKey,
    publicKeyAlgorithm,
    fingerprint: base32hexLower(digest),
    legacyFingerprint: digest.toString("hex"),
  };
}

/** A new ECDSA P-256 key pair, with the private key as PKCS#8 PEM. */
export async function generateDeviceKey(): Promise<{ privateKey: CryptoKey; publicKey: CryptoKey; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  return { privateKey: keys.privateKey, publicKey: keys.publicKey, keyPem: await exportKey(keys.privateKey) };
}

/** A PEM CSR for `commonName` signed with `keys`. */
export async function createCsr(keys: { privateKey: CryptoKey; publicKey: CryptoKey }, commonName: string): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: [{ CN: [commonName] }], keys, signingAlgorithm: alg });
  return csr.toString("pem");
}
