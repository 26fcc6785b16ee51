// systemd unit files (the format quadlet files share): sections of key=value entries, where a key may repeat and
// order matters. Parsed into a small editable model so the agent can rewrite references, add its label and merge
// drop-ins without losing what it does not understand. Comments are dropped on rewrite (systemd ignores them).

export interface UnitSection {
  name: string;
  entries: [key: string, value: string][];
}

export interface Unit {
  sections: UnitSection[];
}

export class UnitSyntaxError extends Error {}

/** Parses unit file text; `file` names it in errors. Lines ending in "\" continue on the next line, as systemd. */
export function parseUnit(text: string, file: string): Unit {
  const unit: Unit = { sections: [] };
  let current: UnitSection | undefined;
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i].trim();
    const lineNo = i + 1;
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    while (line.endsWith("\\") && i + 1 < lines.length) {
      const next = lines[++i].trim();
      // systemd skips comment lines inside a continuation.
      if (next.startsWith("#") || next.startsWith(";")) continue;
      line = `${line.slice(0, -1)} ${next}`;
    }
    if (line.endsWith("\\")) line = line.slice(0, -1);
    if (line.startsWith("[")) {
      if (!line.endsWith("]") || line.length < 3) throw new UnitSyntaxError(`${file} line ${lineNo}: malformed section header "${line}"`);
      const name = line.slice(1, -1);
      current = unit.sections.find((s) => s.name === name);
      if (!current) {
        current = { name, entries: [] };
        unit.sections.push(current);
      }
      continue;
    }
    const eq = line.indexOf("=");
    if (eq <= 0) throw new UnitSyntaxError(`${file} line ${lineNo}: expected key=value, got "${line}"`);
    if (!current) throw new UnitSyntaxError(`${file} line ${lineNo}: "${line}" is outside any [Section]`);
    current.entries.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return unit;
}

export function writeUnit(unit: Unit): string {
  return `${unit.sections.map((s) => [`[${s.name}]`, ...s.entries.map(([k, v]) => `${k}=${v}`)].join("\n")).join("\n\n")}\n`;
}

export const section = (unit: Unit, name: string): UnitSection | undefined => unit.sections.find((s) => s.name === name);

/** The section, created (at the end) when missing. */
export function ensureSection(unit: Unit, name: string): UnitSection {
  let s = section(unit, name);
  if (!s) {
    s = { name, entries: [] };
    unit.sections.push(s);
  }
  return s;
}

/** Every value of `key` in section `name`, in order. */
export const values = (unit: Unit, name: string, key: string): string[] =>
  (section(unit, name)?.entries ?? []).filter(([k]) => k === key).map(([, v]) => v);

/** The last value of `key` (systemd's rule for single-valued keys). */
export const lastValue = (unit: Unit, name: string, key: string): string | undefined => values(unit, name, key).at(-1);

/** Drop-in merge: the drop-in's entries are appended per section (for single-valued keys the last one wins). */
export function mergeUnit(base: Unit, dropIn: Unit): void {
  for (const s of dropIn.sections) ensureSection(base, s.name).entries.push(...s.entries);
}

/**
 * Splits a value into words the way systemd and quadlet do for Exec=, PodmanArgs=, Environment=: whitespace
 * separates, single and double quotes group, backslash escapes the next character.
 */
export function splitWords(value: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === "\\" && i + 1 < value.length) {
      word += value[++i];
      inWord = true;
    } else if (quote) {
      if (c === quote) quote = undefined;
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new UnitSyntaxError(`unterminated quote in "${value}"`);
  if (inWord) words.push(word);
  return words;
}
