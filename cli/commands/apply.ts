// flightctl apply: create or replace every resource in the given files (ReplaceX is create-or-replace, as
// flightctl's PUT). All documents are read and checked before the first is sent, so a typo in the fifth
// document does not leave the first four applied.
import { defineCommand } from "citty";
import { globalArgs } from "../config.js";
import { describe, UsageError } from "../errors.js";
import { decodeDocument, readSources } from "../documents.js";
import { api } from "../resources.js";
import { session } from "../transport.js";

export default defineCommand({
  meta: {
    name: "apply",
    description: [
      "Create or replace resources from YAML or JSON files (several documents per file allowed).",
      "",
      "  flightctl apply -f fleet.yaml",
      "  flightctl apply -f examples/ -R",
      "  cat device.yaml | flightctl apply -f -",
      "  flightctl apply -f fleet.yaml --dry-run",
    ].join("\n"),
  },
  args: {
    ...globalArgs,
    filename: { type: "string", alias: "f", description: "File, directory or - (stdin); repeatable", required: true },
    recursive: { type: "boolean", alias: "R", description: "Also read the sub-directories of directories given with -f" },
    "dry-run": { type: "boolean", description: "Check the documents and print what would be applied, without sending them" },
  },
  async run({ args }) {
    const paths = ([] as string[]).concat(args.filename as string | string[]);
    const docs = readSources(paths, !!args.recursive);
    if (docs.length === 0) throw new UsageError(`no resources found in ${paths.join(", ")}`);
    const decoded = await Promise.all(docs.map(decodeDocument));
    if (args["dry-run"]) {
      for (const d of decoded) process.stdout.write(`${d.kind.kind.toLowerCase()}/${d.name} checked (dry run)\n`);
      return;
    }
    const s = await session(args);
    let failed = 0;
    for (const d of decoded) {
      const a = await api(s, d.kind);
      let created = false;
      try {
        await a.client[`replace${d.kind.kind}`](
          { name: d.name, [d.kind.field]: d.message, orgId: s.org },
          { onHeader: (h: Headers) => (created = h.get("flightctl-created") === "true") },
        );
        process.stdout.write(`${d.kind.kind.toLowerCase()}/${d.name} ${created ? "created" : "configured"}\n`);
      } catch (e) {
        failed++;
        process.stderr.write(`Error: ${d.kind.kind.toLowerCase()}/${d.name}: ${describe(e)}\n`);
      }
    }
    if (failed) throw new UsageError(`${failed} of ${decoded.length} resources were not applied`);
  },
});
