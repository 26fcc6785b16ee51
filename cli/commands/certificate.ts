// flightctl certificate request: a new key, an enrollment CSR for it, wait for its approval, then write the agent's
// enrollment material (key, certificate, and a config.yaml embedding them with the server and its CA).
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defineCommand } from "citty";
import { toJson, type JsonObject } from "@bufbuild/protobuf";
import { globalArgs } from "../config.js";
import { UsageError } from "../errors.js";
import { toYaml } from "../output.js";
import { session } from "../transport.js";
import { enrollmentModules } from "./enrollmentconfig.js";

/** "7d", "12h", "30m", "3600" → seconds. */
export function parseDuration(v: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(v.trim());
  if (!m) throw new UsageError(`--expiration "${v}": use a number with s, m, h or d, e.g. 7d`);
  return Number(m[1]) * ({ "": 1, s: 1, m: 60, h: 3600, d: 86400 } as const)[m[2] as "" | "s" | "m" | "h" | "d"];
}

const request = defineCommand({
  meta: {
    name: "request",
    description: [
      "Request an enrollment certificate and write agent enrollment material.",
      "",
      "  flightctl certificate request -n my-installer -d ./agent-config",
      "  flightctl certificate request -n lab -x 30d -d /etc/flightctl",
      "",
      "Writes <dir>/<name>.key, <dir>/<name>.crt and <dir>/config.yaml (the enrollment-service block).",
    ].join("\n"),
  },
  args: {
    ...globalArgs,
    name: { type: "string", alias: "n", description: "Name of the CSR (default client-enrollment)" },
    expiration: { type: "string", alias: "x", description: "Certificate lifetime, e.g. 7d (default 7d)" },
    signer: { type: "string", alias: "s", description: "Signer (default flightctl.io/enrollment)" },
    "output-dir": { type: "string", alias: "d", description: "Directory for the files (default .)" },
  },
  async run({ args }) {
    const name = args.name ?? "client-enrollment";
    const seconds = parseDuration(args.expiration ?? "7d");
    const dir = args["output-dir"] ?? ".";
    const s = await session(args);
    const [{ generateDeviceKey, createCsr }, { CertificateSigningRequestService }] = await Promise.all([
      import("../../lib/csr.js"),
      import("../../gen/flightctl/v1beta1/certificatesigningrequest_service_pb.js"),
    ]);
    const keys = await generateDeviceKey();
    const pem = await createCsr(keys, name);
    const csrs = s.client(CertificateSigningRequestService);
    await csrs.createCertificateSigningRequest({
      orgId: s.org,
      certificateSigningRequest: {
        apiVersion: "v1beta1",
        kind: "CertificateSigningRequest",
        metadata: { name },
        spec: {
          request: Buffer.from(pem).toString("base64"),
          signerName: args.signer ?? "flightctl.io/enrollment",
          usages: ["clientAuth", "CA:false"],
          expirationSeconds: seconds,
        },
      },
    });
    process.stderr.write(`certificatesigningrequest/${name} created; waiting for approval (flightctl approve csr/${name})…\n`);
    for (;;) {
      const csr = await csrs.getCertificateSigningRequest({ name, orgId: s.org });
      const conds = csr.status?.conditions ?? [];
      if (conds.some((c) => (c.type === "Denied" || c.type === "Failed") && c.status === "True")) {
        throw new UsageError(
          `certificatesigningrequest/${name} was denied or failed: ${conds.map((c) => `${c.type}: ${c.message ?? ""}`).join("; ")}`,
        );
      }
      if (csr.status?.certificate) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const { EnrollmentConfigService, EnrollmentConfigSchema } = await enrollmentModules();
    const cfg = toJson(
      EnrollmentConfigSchema,
      await s.client(EnrollmentConfigService).getEnrollmentConfig({ csr: name, orgId: s.org }),
    ) as JsonObject;
    const auth = ((cfg["enrollment-service"] as JsonObject).authentication ??= {}) as JsonObject;
    auth["client-key-data"] = Buffer.from(keys.keyPem).toString("base64");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.key`), keys.keyPem, { mode: 0o600 });
    writeFileSync(join(dir, `${name}.crt`), Buffer.from(String(auth["client-certificate-data"] ?? ""), "base64"));
    writeFileSync(join(dir, "config.yaml"), await toYaml(cfg), { mode: 0o600 });
    // Files that existed keep their mode on write: the ones holding the key are made 0600 again.
    for (const f of [`${name}.key`, "config.yaml"]) chmodSync(join(dir, f), 0o600);
    process.stdout.write(`Wrote ${join(dir, `${name}.key`)}, ${join(dir, `${name}.crt`)} and ${join(dir, "config.yaml")}\n`);
  },
});

export default defineCommand({
  meta: { name: "certificate", description: "Certificates for agents.\n\n  flightctl certificate request -n my-installer -d ./agent" },
  subCommands: { request },
});
