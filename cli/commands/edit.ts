// flightctl edit: the resource in $EDITOR, then a conditional replace. The write carries the resourceVersion that
// was read, so a change made by someone else meanwhile is refused (Aborted) instead of silently overwritten; the
// edited copy is kept and its path printed.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineCommand } from "citty";
import { Code, ConnectError } from "@connectrpc/connect";
import type { JsonObject } from "@bufbuild/protobuf";
import { globalArgs } from "../config.js";
import { ResourceError, UsageError } from "../errors.js";
import { decodeDocument, parseText } from "../documents.js";
import { parseTargets } from "../kinds.js";
import { toJsonText, toYaml } from "../output.js";
import { api } from "../resources.js";
import { session } from "../transport.js";

export default defineCommand({
  meta: {
    name: "edit",
    description: [
      "Edit a resource in your editor and save it back (refused if it changed meanwhile).",
      "",
      "  flightctl edit fleet/lab",
      "  flightctl edit device/my-device -o json --editor nano",
      "",
      "Editor: --editor, else FLIGHTCTL_EDITOR, VISUAL, EDITOR, else vi.",
    ].join("\n"),
  },
  args: {
    ...globalArgs,
    target: { type: "positional", required: true, description: "TYPE/NAME" },
    editor: { type: "string", description: 'Editor command (may include arguments, e.g. "code --wait")' },
    output: { type: "string", alias: "o", description: "Edit as yaml (default) or json" },
  },
  async run({ args }) {
    const { kind, names } = parseTargets(args._);
    if (names.length !== 1) throw new UsageError("edit one resource: TYPE/NAME");
    if (!kind.writable) throw new UsageError(`${kind.names[1]} cannot be edited`);
    const format = args.output ?? "yaml";
    if (format !== "yaml" && format !== "json") throw new UsageError(`-o must be yaml or json, got "${format}"`);
    const name = names[0];
    const target = `${kind.kind.toLowerCase()}/${name}`;
    const s = await session(args);
    const a = await api(s, kind);
    const original = await a.get(name);
    const readVersion = (original.metadata as JsonObject | undefined)?.resourceVersion;

    const dir = mkdtempSync(join(tmpdir(), "flightctl-edit-"));
    const file = join(dir, `${kind.kind.toLowerCase()}-${name}.${format}`);
    const written = format === "json" ? toJsonText(original) : await toYaml(original);
    writeFileSync(file, written, { mode: 0o600 });
    const editor = args.editor ?? process.env.FLIGHTCTL_EDITOR ?? process.env.VISUAL ?? process.env.EDITOR ?? "vi";
    const r = spawnSync(`${editor} ${JSON.stringify(file)}`, { stdio: "inherit", shell: true });
    if (r.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      throw new UsageError(`the editor "${editor}" failed (${r.error?.message ?? `exit code ${r.status}`}); nothing was changed`);
    }
    const text = readFileSync(file, "utf8");
    const keep = (why: string) =>
      new UsageError(`${why}\nYour edited copy is kept at ${file}; apply it with "flightctl apply -f ${file}" once fixed.`);
    const docs = (() => {
      try {
        return parseText(text, file);
      } catch (e) {
        throw keep((e as Error).message);
      }
    })();
    if (text === written || docs.length === 0) {
      rmSync(dir, { recursive: true, force: true });
      return void process.stdout.write("Edit cancelled, no changes made.\n");
    }
    if (docs.length > 1) throw keep(`${file}: holds ${docs.length} documents; an edit must keep exactly one`);
    const doc = docs[0].doc;
    const meta = (doc.metadata ?? {}) as JsonObject;
    if (doc.kind !== kind.kind || meta.name !== name)
      throw keep(`${target}: kind and metadata.name cannot be changed by edit (create a new resource with apply instead)`);
    // The version we read, whatever the editor did to it: that is what makes the write conditional.
    doc.metadata = { ...meta, ...(readVersion === undefined ? {} : { resourceVersion: readVersion }) };
    let decoded: Awaited<ReturnType<typeof decodeDocument>>;
    try {
      decoded = await decodeDocument(docs[0]);
    } catch (e) {
      throw keep((e as Error).message);
    }
    try {
      await a.client[`replace${kind.kind}`]({ name, [kind.field]: decoded.message, orgId: s.org });
    } catch (e) {
      if (e instanceof ConnectError && e.code === Code.Aborted) {
        const now = await a.get(name).catch(() => undefined);
        const nowVersion = (now?.metadata as JsonObject | undefined)?.resourceVersion;
        throw keep(
          `${target} was changed by someone else while you were editing it (you started from resourceVersion ${String(readVersion)}${nowVersion ? `, it is now ${String(nowVersion)}` : ""}); your changes were NOT saved. ` +
            `Run "flightctl edit ${target}" again to edit the current version.`,
        );
      }
      throw keep(new ResourceError(target, e).message);
    }
    rmSync(dir, { recursive: true, force: true });
    process.stdout.write(`${target} edited\n`);
  },
});
