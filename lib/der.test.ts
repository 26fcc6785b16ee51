// lib/der.ts against Node's X509Certificate (OpenSSL): serial and validity read from the DER, for UTCTime and
// GeneralizedTime validity and serials with and without a leading zero byte.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { certificateValidity, pemBody } from "./der.js";

const dir = mkdtempSync(join(tmpdir(), "fc-der-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const openssl = (...args: string[]) => execFileSync("openssl", args, { encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });

function cert(serial: string, days: number): string {
  const key = join(dir, `k-${serial}-${days}.pem`);
  writeFileSync(key, openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout"));
  return openssl("req", "-x509", "-new", "-key", key, "-subj", "/CN=der", "-days", String(days), "-set_serial", serial);
}

test("serial and validity from the DER equal OpenSSL's", () => {
  // 0x00ff…: DER needs a leading zero byte (positive); 0x7f…: none; 1; ten thousand days: a GeneralizedTime notAfter.
  for (const [serial, days] of [
    ["0xff00112233445566778899", 30],
    ["0x7f00112233445566778899", 30],
    ["1", 1],
    ["0x0a0b0c", 10_000],
  ] as const) {
    const pem = cert(serial, days);
    const x = new X509Certificate(pem);
    const v = certificateValidity(pemBody(pem, "CERTIFICATE"));
    assert.equal(v.serial, x.serialNumber, serial);
    assert.equal(v.notBefore.getTime(), new Date(x.validFrom).getTime(), serial);
    assert.equal(v.notAfter.getTime(), new Date(x.validTo).getTime(), serial);
  }
  assert.equal(certificateValidity(pemBody(cert("3", 10_000), "CERTIFICATE")).notAfter.getUTCFullYear() >= 2050, true);
});

test("what is no certificate is refused", () => {
  assert.throws(() => pemBody("hello", "CERTIFICATE"), /no CERTIFICATE/);
  assert.throws(() => certificateValidity(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01])), /DER|certificate/);
});
