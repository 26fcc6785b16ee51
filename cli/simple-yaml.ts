// A reader for the plain block-style YAML of client.yaml, so that reading the configuration, which every command
// does, does not initialise the full yaml library. It accepts only nested mappings whose values are plain or quoted
// strings, booleans or null, exactly as YAML 1.2's core schema (the yaml library's default) reads them, and returns
// undefined for anything else (flow style, lists, anchors, tags, multi-line or numeric scalars, comments after a
// value, duplicate keys, ...) so the caller falls back to the yaml library: the result is always what the yaml
// library would have given.

type Mapping = { [key: string]: unknown };

const LINE = /^( *)([A-Za-z_][A-Za-z0-9_-]*):(?: +(.*?))? *$/;
/** Keys the core schema would not read as that string, or that JavaScript treats specially. */
const SPECIAL_KEY = /^(?:null|Null|NULL|true|True|TRUE|false|False|FALSE|__proto__)$/;
const SINGLE_QUOTED = /^'((?:[^']|'')*)'$/;
/** Plain scalars starting like an indicator, a number, .inf/.nan or ~ (and lone surrogate escapes): not handled. */
const UNHANDLED_PLAIN = /^[-?:,[\]{}#&*!|>'"%@`+.~0-9]/;

function scalar(raw: string): { value: unknown } | undefined {
  if (raw.startsWith('"')) {
    // JSON's string escapes are a subset of YAML's double-quoted ones, with the same meaning.
    if (raw.length < 2 || !raw.endsWith('"') || /\\u[dD][89a-fA-F]/.test(raw)) return undefined;
    try {
      const v: unknown = JSON.parse(raw);
      return typeof v === "string" ? { value: v } : undefined;
    } catch {
      return undefined;
    }
  }
  if (raw.startsWith("'")) {
    const m = SINGLE_QUOTED.exec(raw);
    return m ? { value: m[1].replaceAll("''", "'") } : undefined;
  }
  if (UNHANDLED_PLAIN.test(raw) || /: |:$| #/.test(raw)) return undefined;
  if (/^(?:null|Null|NULL)$/.test(raw)) return { value: null };
  if (/^(?:true|True|TRUE)$/.test(raw)) return { value: true };
  if (/^(?:false|False|FALSE)$/.test(raw)) return { value: false };
  return { value: raw };
}

/** The mapping in `text`, or undefined when the text is outside the simple form (see above). */
export function parseSimpleYaml(text: string): Mapping | undefined {
  const root: Mapping = {};
  const open: { indent: number; map: Mapping }[] = [{ indent: 0, map: root }];
  // A key with nothing after the colon: a nested mapping if the next line is deeper, else null.
  let pending: { indent: number; map: Mapping; key: string } | undefined;
  for (const rawLine of text.split("\n")) {
    const line = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
    if (/[\t\r]/.test(line)) return undefined;
    if (line.trim() === "" || /^ *#/.test(line)) continue;
    const m = LINE.exec(line);
    if (!m || SPECIAL_KEY.test(m[2])) return undefined;
    const indent = m[1].length;
    if (pending) {
      if (indent > pending.indent) {
        const child: Mapping = {};
        pending.map[pending.key] = child;
        open.push({ indent, map: child });
      } else pending.map[pending.key] = null;
      pending = undefined;
    }
    while (open.length > 1 && indent < open[open.length - 1].indent) open.pop();
    const top = open[open.length - 1];
    if (indent !== top.indent || Object.hasOwn(top.map, m[2])) return undefined;
    if (!m[3]) {
      pending = { indent, map: top.map, key: m[2] };
      continue;
    }
    const v = scalar(m[3]);
    if (!v) return undefined;
    top.map[m[2]] = v.value;
  }
  if (pending) pending.map[pending.key] = null;
  return Object.keys(root).length > 0 ? root : undefined;
}
