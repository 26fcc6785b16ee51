// flightctl enrollmentconfig: the agent's enrollment material (the enrollment-service block of its config.yaml).
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { defineCommand } from "citty";
import { toJson, type JsonObject } from "@bufbuild/protobuf";
import { globalArgs } from "../config.js";
import { UsageError } from "../errors.js";
import { toYaml } from "../output.js";
import { session } from "../transport.js";

export default defineCommand({
  meta: {
    name: "enrollmentconfig",
    description: [
      "Print the agent enrollment configuration (YAML for the agent's config.yaml).",
      "",
      "  flightctl enrollmentconfig --file config.yaml            # with a fresh enrollment certificate and key (file mode 0600)",
      "  flightctl enrollmentconfig my-csr -p my-csr.key          # the certificate of an approved CSR, with your key",
    ].join("\n"),
  },
  args: {
    ...globalArgs,
    csr: { type: "positional", required: false, description: "Name of an approved enrollment CSR (default: mint new material)" },
    "private-key": { type: "string", alias: "p", description: "PEM private key of that CSR, embedded as client-key-data" },
    file: {
      type: "string",
      alias: "f",
      description: "Write to this file, readable only by you (0600: it holds a private key), not stdout",
    },
  },
  async run({ args }) {
    const s = await session(args);
    const { EnrollmentConfigService, EnrollmentConfigSchema } = await enrollmentModules();
    const cfg = toJson(
      EnrollmentConfigSchema,
      await s.client(EnrollmentConfigService).getEnrollmentConfig({ csr: args.csr ?? "", orgId: s.org }),
    ) as JsonObject;
    if (args["private-key"]) {
      if (!args.csr) throw new UsageError("--private-key goes with a CSR name");
      const auth = ((cfg["enrollment-service"] as JsonObject).authentication ??= {}) as JsonObject;
      auth["client-key-data"] = Buffer.from(readFileSync(args["private-key"])).toString("base64");
    }
    const text = await toYaml(cfg);
    if (!args.file) return void process.stdout.write(text);
    writeFileSync(args.file, text, { mode: 0o600 });
    chmodSync(args.file, 0o600); // an existing file keeps its mode on write
    process.stderr.write(`wrote ${args.file} (mode 0600)\n`);
  },
});

export async function enrollmentModules() {
  const [svc, msg] = await Promise.all([
    import("../../gen/flightctl/v1beta1/enrollmentconfig_service_pb.js"),
    import("../../gen/flightctl/v1beta1/enrollmentconfig_pb.js"),
  ]);
  return { EnrollmentConfigService: svc.EnrollmentConfigService, EnrollmentConfigSchema: msg.EnrollmentConfigSchema };
}
