// flightctl approve / deny: decide enrollment requests (with labels for the new device) and certificate signing
// requests. Both verbs share this module.
import { defineCommand } from "citty";
import { globalArgs } from "../config.js";
import { describe, UsageError } from "../errors.js";
import { parseTargets } from "../kinds.js";
import { api } from "../resources.js";
import { session } from "../transport.js";

/** Every value of a repeatable flag (citty keeps only the last): `-l a=b -l c=d`, `--label=a=b`. */
export function repeated(rawArgs: string[], flags: string[]): string[] {
  const out: string[] = [];
  rawArgs.forEach((a, i) => {
    if (flags.includes(a) && i + 1 < rawArgs.length) out.push(rawArgs[i + 1]);
    const eq = flags.find((f) => a.startsWith(`${f}=`));
    if (eq) out.push(a.slice(eq.length + 1));
  });
  return out;
}

/** -l k=v flags (repeatable, or comma separated) into a label map. */
export function parseLabels(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of values.flatMap((x) => x.split(","))) {
    if (!item) continue;
    const i = item.indexOf("=");
    if (i <= 0) throw new UsageError(`label "${item}" must be key=value`);
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}

export function decide(approve: boolean) {
  const verb = approve ? "approve" : "deny";
  return defineCommand({
    meta: {
      name: verb,
      description: approve
        ? [
            "Approve enrollment requests (creating their devices) or certificate signing requests.",
            "",
            "  flightctl approve er/<name> -l site=lab -l region=eu",
            "  flightctl approve enrollmentrequest <name> --replace-labels -l site=lab",
            "  flightctl approve csr/<name>",
          ].join("\n")
        : [
            "Deny enrollment requests or certificate signing requests.",
            "",
            "  flightctl deny er/<name>",
            "  flightctl deny csr/<name>",
          ].join("\n"),
    },
    args: {
      ...globalArgs,
      target: { type: "positional", required: true, description: "er/NAME… or csr/NAME… (or TYPE NAME…)" },
      ...(approve
        ? {
            label: { type: "string", alias: "l", description: "Label for the new device, key=value (repeatable)" },
            "replace-labels": { type: "boolean", description: "Use only these labels, not the agent's" },
          }
        : { reason: { type: "string", description: "Why (recorded in the CSR's Denied condition)" } }),
    } as const,
    async run({ args, rawArgs }) {
      const { kind, names } = parseTargets(args._);
      if (names.length === 0) throw new UsageError(`name what to ${verb}: er/<name> or csr/<name>`);
      if (kind.kind !== "EnrollmentRequest" && kind.kind !== "CertificateSigningRequest") {
        throw new UsageError(`only enrollment requests (er) and certificate signing requests (csr) can be ${verb}d, not ${kind.names[1]}`);
      }
      const labels = approve ? parseLabels(repeated(rawArgs, ["-l", "--label"])) : {};
      const s = await session(args);
      const a = await api(s, kind);
      let failed = 0;
      for (const name of names) {
        const target = `${kind.kind.toLowerCase()}/${name}`;
        try {
          if (kind.kind === "EnrollmentRequest") {
            await a.client.approveEnrollmentRequest({
              name,
              orgId: s.org,
              approval: { approved: approve, labels, ...(args["replace-labels"] ? { replaceLabels: true } : {}) },
            });
          } else if (approve) {
            await a.client.approveCertificateSigningRequest({ name, orgId: s.org });
          } else {
            await a.client.denyCertificateSigningRequest({ name, orgId: s.org, reason: String(args.reason ?? "") });
          }
          process.stdout.write(`${target} ${approve ? "approved" : "denied"}\n`);
        } catch (e) {
          failed++;
          process.stderr.write(`Error: ${target}: ${describe(e)}\n`);
        }
      }
      if (failed) throw new UsageError(`${failed} of ${names.length} requests were not ${verb}d`);
    },
  });
}

export default decide(true);
