// `flightctl ... --help`, rendered here rather than by citty: citty pads its option table to the longest description
// (lines hundreds of characters long) and colours whenever NO_COLOR is not exactly "1", pipes included. Here the text
// is wrapped at the terminal's width (80 when not a terminal, at most 100) and coloured only on a terminal without
// NO_COLOR.
import type { ArgDef, CommandDef } from "citty";

export interface HelpStyle {
  width: number;
  color: boolean;
}

/** Colours only for a terminal and without NO_COLOR (any value, per no-color.org) or TERM=dumb. */
export function useColor(stream: { isTTY?: boolean } = process.stdout): boolean {
  return !!stream.isTTY && !process.env.NO_COLOR && process.env.TERM !== "dumb";
}

export function helpStyle(stream: { isTTY?: boolean; columns?: number } = process.stdout): HelpStyle {
  const cols = stream.isTTY ? stream.columns || 80 : Number(process.env.COLUMNS) || 80;
  return { width: Math.max(40, Math.min(cols, 100)), color: useColor(stream) };
}

/** Words of `text` in lines of at most `width` characters. */
export function wrap(text: string, width: number, cut = true): string[] {
  const lines: string[] = [];
  let line = "";
  // A word longer than a line (a URL, a JSON patch) is cut: the width is a promise to scripts and narrow terminals.
  const words = text
    .split(/\s+/)
    .filter(Boolean)
    .flatMap((w) => (cut ? (w.match(new RegExp(`.{1,${Math.max(1, width)}}`, "g")) ?? []) : [w]));
  for (const word of words) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line || lines.length === 0) lines.push(line);
  return lines;
}

/** A description: paragraphs wrapped; indented lines (examples) kept as they are, continued on an indented line if too long. */
function block(text: string, width: number): string[] {
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const indent = /^\s*/.exec(raw)?.[0] ?? "";
    if (!raw.trim()) out.push("");
    else if (!indent) out.push(...wrap(raw, width));
    else if (raw.length <= width) out.push(raw.trimEnd());
    else {
      // An example continues as a shell command would (" \\" at the end), so it still pastes.
      // Words are not cut here (a cut argument would not paste); the last line has room for one more " \\".
      const parts = wrap(raw.trim(), width - indent.length - 6, false);
      out.push(...parts.map((l, i) => `${indent}${i ? "    " : ""}${l}${i < parts.length - 1 ? " \\" : ""}`));
    }
  }
  return out;
}

type Arg = ArgDef & { name: string };

const aliases = (a: Arg): string[] => {
  const v = (a as { alias?: string | string[] }).alias;
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
};

function optionLabel(a: Arg): string {
  const flags = [...aliases(a).map((x) => (x.length === 1 ? `-${x}` : `--${x}`)), `--${a.name}`].join(", ");
  return a.type === "boolean" ? flags : `${flags} ${a.valueHint ?? a.name.toUpperCase()}`;
}

/** Two columns: the label, then its description wrapped beside it (or on the next line if the label is long). */
function twoColumns(rows: [string, string][], s: HelpStyle, paint: (t: string) => string): string[] {
  const left = Math.min(Math.max(...rows.map(([l]) => l.length)), 30);
  const descWidth = s.width - 2 - left - 2;
  const out: string[] = [];
  for (const [label, desc] of rows) {
    const d = desc ? wrap(desc, descWidth) : [""];
    if (label.length > left) {
      out.push(`  ${paint(label)}`);
      out.push(...d.filter(Boolean).map((l) => `${" ".repeat(left + 4)}${l}`));
    } else {
      out.push(`  ${paint(label)}${" ".repeat(left - label.length + 2)}${d[0]}`.trimEnd());
      out.push(...d.slice(1).map((l) => `${" ".repeat(left + 4)}${l}`));
    }
  }
  return out;
}

async function value<T>(v: unknown): Promise<T> {
  return (typeof v === "function" ? await (v as () => unknown)() : await v) as T;
}

/** The help text of the last command of `path` (the commands from `flightctl` down, for its full name). */
export async function renderHelp(path: CommandDef<any>[], s: HelpStyle = helpStyle()): Promise<string> {
  const cmd = path[path.length - 1];
  const sgr = (code: string) => (t: string) => (s.color ? `\x1b[${code}m${t}\x1b[0m` : t);
  const [bold, cyan] = [sgr("1"), sgr("36")];
  const meta = await value<{ name?: string; description?: string; version?: string }>(cmd.meta ?? {});
  const names = await Promise.all(path.map(async (c) => (await value<{ name?: string }>(c.meta ?? {})).name));
  const name = names.filter(Boolean).join(" ");
  const args = Object.entries(await value<Record<string, ArgDef>>(cmd.args ?? {})).map(([n, a]) => ({ ...a, name: n }) as Arg);
  const positionals = args.filter((a) => a.type === "positional");
  const options = args.filter((a) => a.type !== "positional");
  const subs = await value<Record<string, unknown> | undefined>(cmd.subCommands);

  const out: string[] = [...block(meta.description ?? "", s.width), ""];
  const usage = [
    name,
    options.length ? "[OPTIONS]" : "",
    ...positionals.map((p) => (p.required === false ? `[${p.name.toUpperCase()}]` : `<${p.name.toUpperCase()}>`)),
  ];
  if (subs) usage.push("<COMMAND>");
  out.push(`${bold("Usage:")} ${usage.filter(Boolean).join(" ")}`, "");
  if (positionals.length) {
    out.push(
      bold("Arguments:"),
      ...twoColumns(
        positionals.map((p) => [p.name.toUpperCase(), p.description ?? ""]),
        s,
        cyan,
      ),
      "",
    );
  }
  if (options.length) {
    const rows: [string, string][] = [];
    for (const o of options) {
      const extra = o.type !== "boolean" && o.default !== undefined ? ` (default ${String(o.default)})` : "";
      rows.push([optionLabel(o), `${o.description ?? ""}${extra}`]);
      if (o.type === "boolean" && (o.default === true || o.negativeDescription)) rows.push([`--no-${o.name}`, o.negativeDescription ?? ""]);
    }
    out.push(bold("Options:"), ...twoColumns(rows, s, cyan), "");
  }
  if (subs) {
    const rows: [string, string][] = [];
    for (const [n, sub] of Object.entries(subs)) {
      const m = await value<{ description?: string; hidden?: boolean }>((await value<CommandDef<any>>(sub)).meta ?? {});
      if (!m.hidden) rows.push([n, (m.description ?? "").split("\n")[0]]);
    }
    out.push(
      bold("Commands:"),
      ...twoColumns(rows, s, cyan),
      "",
      ...wrap(`Run "${name} <command> --help" for a command's options and examples.`, s.width),
      "",
    );
  }
  return `${out
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trimEnd()}\n`;
}
