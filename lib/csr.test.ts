// The public key of a stored private key: copied out of a P-256 PKCS#8 key, decoded from any other.
import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { test } from "node:test";
import { generateDeviceKey, spkiOfPrivateKey } from "./csr.js";

const decoded = (pem: string) => createPublicKey(pem).export({ format: "der", type: "spki" });

test("the SPKI of a device key is the one OpenSSL decodes, for every key form", async () => {
  for (let i = 0; i < 5; i++) {
    const { keyPem } = await generateDeviceKey();
    assert.deepEqual(spkiOfPrivateKey(keyPem), decoded(keyPem));
    assert.deepEqual(spkiOfPrivateKey(keyPem.replaceAll("\n", "\r\n")), decoded(keyPem));
  }
  const others = [
    generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "sec1" }),
    generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey.export({ format: "pem", type: "pkcs8" }),
    generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "pem", type: "pkcs8" }),
  ] as string[];
  for (const pem of others) assert.deepEqual(spkiOfPrivateKey(pem), decoded(pem));
});
