// Reading resource documents for apply and edit: files, directories (-R), stdin; multi-document YAML or JSON,
// decoded into the kinds' messages with errors naming the file, the document and the field.
import { readdirSync, readFileSync, statSync, type Stats } from "node:fs";
import { join } from "node:path";
import type { JsonObject, Message } from "@bufbuild/protobuf";
import { decodeJson, parseIndexedDocuments } from "../lib/codec.js";
import { UsageError } from "./errors.js";
import { kindOfDocument, type KindDef } from "./kinds.js";

export interface SourceDocument {
  /** "fleet.yaml, document 2" — for messages. */
  where: string;
  doc: JsonObject;
}

const RESOURCE_FILE = /\.(ya?ml|json)$/i;

/** Files named by -f: a file, "-" (stdin), or a directory's .yaml/.yml/.json files (sub-directories with -R). */
export function expandPaths(paths: string[], recursive: boolean): string[] {
  const out: string[] = [];
  const walk = (dir: string, top: boolean) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (recursive) walk(p, false);
      } else if (RESOURCE_FILE.test(e.name)) out.push(p);
    }
    void top;
  };
  for (const p of paths) {
    if (p === "-") {
      out.push(p);
      continue;
    }
    let st: Stats;
    try {
      st = statSync(p);
    } catch {
      throw new UsageError(`-f ${p}: no such file or directory`);
    }
    if (st.isDirectory()) walk(p, true);
    else out.push(p);
  }
  return out;
}

/** Parses one text into documents; a syntax error names the file and the document. */
export function parseText(text: string, source: string): SourceDocument[] {
  let docs: ReturnType<typeof parseIndexedDocuments>;
  try {
    docs = parseIndexedDocuments(text);
  } catch (e) {
    throw new UsageError(
      `${source}: not valid YAML or JSON: ${(e as Error).message.replace(/^document\[(\d+)\]: /, (_, i) => `document ${Number(i) + 1}: `)}`,
    );
  }
  return docs.map((d) => ({
    where: docs.length > 1 || d.index > 0 ? `${source}, document ${d.index + 1}` : source,
    doc: datesToStrings(d.value) as JsonObject,
  }));
}

/** YAML 1.1 reads unquoted timestamps (creationTimestamp, lastSeen…) as dates; the API wants RFC 3339 strings. */
function datesToStrings(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(datesToStrings);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, datesToStrings(x)]));
  return v;
}

export function readSources(paths: string[], recursive: boolean): SourceDocument[] {
  return expandPaths(paths, recursive).flatMap((p) => parseText(readFileSync(p === "-" ? 0 : p, "utf8"), p === "-" ? "stdin" : p));
}

/** The kind and name of a document and its decoded message; errors name where it came from and the field. */
export async function decodeDocument(d: SourceDocument): Promise<{ kind: KindDef; name: string; message: Message }> {
  const kind = kindOfDocument(d.doc.kind, d.where);
  if (!kind.writable) throw new UsageError(`${d.where}: ${kind.kind} resources cannot be applied (they are read-only)`);
  const name = (d.doc.metadata as JsonObject | undefined)?.name;
  if (typeof name !== "string" || !name) throw new UsageError(`${d.where}: ${kind.kind} has no metadata.name`);
  const { schema } = await kind.load();
  try {
    return { kind, name, message: decodeJson(schema, d.doc) as Message };
  } catch (e) {
    throw new UsageError(`${d.where}: ${kind.kind.toLowerCase()}/${name}: ${(e as Error).message}`);
  }
}
