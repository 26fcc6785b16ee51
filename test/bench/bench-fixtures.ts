// What several benchmarks need besides the server: the same-run Postgres baseline (pgbench on a scratch database of
// the server under test) and device identities signed directly by the service's client signer (enrollment has its own
// benchmark, so the scale benches skip it).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { deviceNameFromPublicKey, generateDeviceKey } from "../../lib/csr.js";
import { signClientCertificate } from "../../server/platform/pki/signer.js";

/**
 * TPS of a pgbench run (`args`: the mode and its clients, e.g. ["-S", "-c", "2", "-j", "2", "-T", "10"]) on a scratch
 * database (scale 10) of the server `serverUrl` points at; the database is dropped afterwards.
 */
export function pgbenchTps(serverUrl: string, args: string[]): number {
  const u = new URL(serverUrl);
  const db = `fc_pgbench_${Date.now().toString(36)}`;
  const env = {
    ...process.env,
    PGHOST: u.hostname,
    PGPORT: u.port || "5432",
    PGUSER: decodeURIComponent(u.username || "postgres"),
    PGPASSWORD: decodeURIComponent(u.password),
  };
  execFileSync("psql", ["-d", "postgres", "-c", `create database ${db}`], { env, stdio: "ignore" });
  try {
    execFileSync("pgbench", ["-i", "-s", "10", "-q", db], { env, stdio: "ignore" });
    const out = execFileSync("pgbench", [...args, db], { env, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    return Number(/tps = ([\d.]+)/.exec(out)![1]);
  } finally {
    execFileSync("psql", ["-d", "postgres", "-c", `drop database ${db} with (force)`], { env, stdio: "ignore" });
  }
}

/** The client signer of a service data directory (certs/client-signer.*). */
export function clientSigner(dataDir: string) {
  return {
    certPem: readFileSync(join(dataDir, "certs", "client-signer.crt"), "utf8"),
    keyPem: readFileSync(join(dataDir, "certs", "client-signer.key"), "utf8"),
  };
}

/** A new device key and a management certificate for it from `signer`, as enrollment would issue (one year). */
export async function deviceIdentity(signer: { certPem: string; keyPem: string }, orgId: string) {
  const keys = await generateDeviceKey();
  const name = await deviceNameFromPublicKey(keys.publicKey);
  const { certPem } = await signClientCertificate(signer, {
    publicKey: keys.publicKey,
    commonName: `device:${name}`,
    signerName: "flightctl.io/device-enrollment",
    orgId,
    deviceFingerprint: name,
    validitySeconds: 365 * 86400,
  });
  return { name, keyPem: keys.keyPem, certPem };
}
