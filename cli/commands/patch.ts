// flightctl patch: an RFC 6902 JSON Patch on one resource (only /metadata/labels… and /spec… may change).
import { readFileSync } from "node:fs";
import { defineCommand } from "citty";
import { globalArgs } from "../config.js";
import { UsageError } from "../errors.js";
import { parseTargets } from "../kinds.js";
import { parseOutput } from "../output.js";
import { api } from "../resources.js";
import { session } from "../transport.js";
import { render } from "./get.js";

export default defineCommand({
  meta: {
    name: "patch",
    description: [
      "Apply a JSON Patch (RFC 6902) to one resource.",
      "",
      `  flightctl patch device/my-device -p '[{"op":"add","path":"/metadata/labels/site","value":"lab"}]'`,
      `  flightctl patch fleet/lab -p '[{"op":"replace","path":"/spec/template/spec/os/image","value":"os:2"}]'`,
      "  flightctl patch device/my-device --patch-file ops.json",
    ].join("\n"),
  },
  args: {
    ...globalArgs,
    target: { type: "positional", required: true, description: "TYPE/NAME" },
    patch: { type: "string", alias: "p", description: "The patch: a JSON array of {op, path, value} operations" },
    "patch-file": { type: "string", description: "Read the patch from this file (- for stdin)" },
    output: { type: "string", alias: "o", description: "Print the patched resource: yaml, json, wide or name" },
  },
  async run({ args }) {
    const { kind, names } = parseTargets(args._);
    if (names.length !== 1) throw new UsageError("patch exactly one resource: TYPE/NAME");
    if (!kind.writable) throw new UsageError(`${kind.names[1]} cannot be patched`);
    const text = args.patch ?? (args["patch-file"] ? readFileSync(args["patch-file"] === "-" ? 0 : args["patch-file"], "utf8") : undefined);
    if (!text) throw new UsageError("give the patch with -p '<json>' or --patch-file <file>");
    let ops: unknown;
    try {
      ops = JSON.parse(text);
    } catch (e) {
      throw new UsageError(`the patch is not JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(ops))
      throw new UsageError('the patch must be a JSON array of operations, e.g. [{"op":"add","path":"/metadata/labels/a","value":"b"}]');
    ops.forEach((op: { op?: unknown; path?: unknown }, i) => {
      if (typeof op?.op !== "string" || typeof op.path !== "string") throw new UsageError(`patch[${i}]: needs "op" and "path"`);
    });
    const s = await session(args);
    const res = await (await api(s, kind)).patch(names[0], ops as object[]);
    const output = parseOutput(args.output);
    process.stdout.write(args.output ? await render(kind.kind, output, [res], true) : `${kind.kind.toLowerCase()}/${names[0]} patched\n`);
  },
});
