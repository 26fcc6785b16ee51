// What a ResourceSync reads from git: the files at its path (one file, or the .yaml/.yml/.json files directly in a
// directory, as flightctl: subdirectories are not read), each holding one or more YAML/JSON documents. Fleet documents
// are kept; other kinds are skipped and reported. Any document that does not parse or validate fails the whole set
// with a message naming the file, the document and the field, so nothing is applied from a half-broken commit.
import { posix } from "node:path";
import type { JsonObject } from "@bufbuild/protobuf";
import { DomainError } from "../platform/errors.js";
import { parseIndexedDocuments } from "../platform/codec.js";

/** A file read from the repository (path relative to the repository root). */
export interface SourceFile {
  path: string;
  content: Buffer;
}

/** One Fleet document and where it came from. */
export interface FleetSource<T> {
  file: string;
  /** Position of the document in its file, from 0. */
  index: number;
  name: string;
  fleet: T;
}

export interface ParsedFleets<T> {
  fleets: FleetSource<T>[];
  /** Documents of other kinds, as "<file> document <i> (<kind>)". */
  skipped: string[];
}

/** The set of files at a path cannot be used; the message says where and why. */
export class ParseError extends Error {}

const EXTENSIONS = new Set([".yaml", ".yml", ".json"]);

/**
 * The files a ResourceSync reads out of what was read at `root` (repository-relative, "" for the root): the file
 * itself, or the resource files directly in the directory.
 */
export function resourceFiles<F extends SourceFile>(files: F[], root: string): F[] {
  const single = files.find((f) => f.path === root);
  if (single) return [single];
  const dir = root === "" ? "." : root;
  return files
    .filter((f) => posix.dirname(f.path) === dir && EXTENSIONS.has(posix.extname(f.path).toLowerCase()))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

const location = (file: string, index: number) => `${file} document ${index}`;

/**
 * Parses the files' documents and turns each Fleet into `T` with `toFleet` (decode + the API's validation, throwing
 * InvalidArgument naming the field). Throws ParseError on the first problem.
 */
export function parseFleets<T>(files: SourceFile[], toFleet: (doc: JsonObject) => T): ParsedFleets<T> {
  const fleets: FleetSource<T>[] = [];
  const skipped: string[] = [];
  const seen = new Map<string, string>();
  for (const f of files) {
    let docs: { index: number; value: JsonObject }[];
    try {
      docs = parseIndexedDocuments(f.content.toString("utf8"));
    } catch (e) {
      // The YAML parser's message is "document[i]: <problem> at line L, column C:" followed by a source excerpt; the
      // first line is enough for a condition.
      const first = (e instanceof Error ? e.message : String(e)).split("\n")[0].replace(/:$/, "");
      throw new ParseError(`${f.path}: ${first.replace(/^document\[(\d+)\]/, "document $1")}`);
    }
    for (const { index, value } of docs) {
      const where = location(f.path, index);
      const kind = value.kind;
      if (typeof kind !== "string" || kind === "") throw new ParseError(`${where}: kind: is required`);
      if (kind !== "Fleet") {
        skipped.push(`${where} (${kind})`);
        continue;
      }
      const meta = value.metadata;
      const name = meta && typeof meta === "object" && !Array.isArray(meta) ? (meta as JsonObject).name : undefined;
      if (typeof name !== "string" || name === "") throw new ParseError(`${where}: metadata.name: is required`);
      let fleet: T;
      try {
        fleet = toFleet(value);
      } catch (e) {
        if (e instanceof DomainError && e.kind === "invalid") throw new ParseError(`${where} (Fleet "${name}"): ${e.message}`);
        throw e;
      }
      const first = seen.get(name);
      if (first) throw new ParseError(`${where}: Fleet "${name}" is also defined in ${first}`);
      seen.set(name, where);
      fleets.push({ file: f.path, index, name, fleet });
    }
  }
  return { fleets, skipped };
}
