// The repository's source files by name, for the tests that check the layout's rules by reading the code.
import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Paths (relative to the root, "/"-separated) of the files under `dir` whose names end with `suffix`. */
export function filesUnder(dir: string, suffix: string, out: string[] = []): string[] {
  for (const entry of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) filesUnder(rel, suffix, out);
    else if (entry.name.endsWith(suffix)) out.push(rel);
  }
  return out;
}
