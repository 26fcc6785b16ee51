// Lifecycle hooks: agent-local YAML files of actions run before and after an update and around a reboot, in
// flightctl's format. /usr/lib/flightctl/hooks.d/<type>/*.yaml (the built-in default below counts as one of them) is
// overlaid by /etc/flightctl/hooks.d/<type>/*.yaml: a file of the same name replaces the packaged one; actions run in
// file-name order. An action runs when all its `if` conditions hold: a path operation (created / updated / removed
// config files at a path, or under it when the path ends in "/") or "rebooted == true|false".
import type { Logger } from "pino";
import { parse } from "yaml";
import { parse as parseShell } from "shell-quote";
import { ApplyError, type FileChanges } from "./apply.js";
import { durationMs } from "./config.js";
import type { Executor, HostFs } from "./host.js";

export const HOOK_TYPES = ["beforeupdating", "afterupdating", "beforerebooting", "afterrebooting"] as const;
export type HookType = (typeof HOOK_TYPES)[number];

type FileOp = keyof FileChanges;
type Condition = { path: string; op: FileOp[] } | { rebooted: boolean };

interface Action {
  run: string;
  envVars: Record<string, string>;
  workDir?: string;
  timeoutMs: number;
  if: Condition[];
}

/** What the actions of one hook run may look at. */
export interface HookContext {
  changes?: FileChanges;
  rebooted?: boolean;
}

const PACKAGED_DIR = "/usr/lib/flightctl/hooks.d";
const USER_DIR = "/etc/flightctl/hooks.d";
const DEFAULT_TIMEOUT_MS = 10_000;
const OPS: readonly FileOp[] = ["created", "updated", "removed"];

/** flightctl's packaged afterupdating hooks: reload what reads the config files an update changed. */
const BUILT_IN: Partial<Record<HookType, Record<string, string>>> = {
  afterupdating: {
    "00-default.yaml": `
- if: [{ path: /etc/systemd/system/, op: [created, updated, removed] }]
  run: systemctl daemon-reload
- if: [{ path: /etc/NetworkManager/system-connections/, op: [created, updated, removed] }]
  run: nmcli conn reload
- if: [{ path: /etc/firewalld/, op: [created, updated, removed] }]
  run: firewall-cmd --reload
- if: [{ path: /etc/flightctl/conf.d/, op: [created, updated, removed] }]
  run: /bin/sh -c 'kill -HUP \${FLIGHTCTL_AGENT_PID}'
`,
  },
};

const fail = (file: string, message: string): never => {
  throw new ApplyError("hooks", file, message);
};

function parseCondition(file: string, where: string, c: unknown): Condition {
  if (typeof c === "string") {
    const m = /^\s*rebooted\s*==\s*(true|false)\s*$/.exec(c);
    return m ? { rebooted: m[1] === "true" } : fail(file, `${where}: unknown condition "${c}"`);
  }
  const { path, op, ...rest } = (c ?? {}) as { path?: unknown; op?: unknown };
  if (Object.keys(rest).length) fail(file, `${where}: unknown field "${Object.keys(rest)[0]}"`);
  if (typeof path !== "string" || !path.startsWith("/")) fail(file, `${where}.path: must be an absolute path`);
  const ops = Array.isArray(op) ? op : [];
  if (ops.length === 0 || !ops.every((o) => OPS.includes(o as FileOp))) fail(file, `${where}.op: must list some of ${OPS.join(", ")}`);
  return { path: path as string, op: ops as FileOp[] };
}

function parseAction(file: string, i: number, raw: unknown): Action {
  const where = `action #${i + 1}`;
  const { run, envVars = {}, workDir, timeout, if: conditions = [], ...rest } = (raw ?? {}) as Record<string, unknown>;
  if (Object.keys(rest).length) fail(file, `${where}: unknown field "${Object.keys(rest)[0]}"`);
  if (typeof run !== "string" || !run.trim() || run.length > 2048)
    fail(file, `${where}.run: must be a command line of 1 to 2048 characters`);
  for (const [k, v] of Object.entries(envVars as Record<string, unknown>)) {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(k) || typeof v !== "string" || v === "")
      fail(file, `${where}.envVars: "${k}" must be an upper-case name with a non-empty value`);
  }
  if (workDir !== undefined && (typeof workDir !== "string" || !workDir.startsWith("/")))
    fail(file, `${where}.workDir: must be an absolute path`);
  if (!Array.isArray(conditions)) fail(file, `${where}.if: must be a list`);
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  try {
    timeoutMs = durationMs(timeout, `${where}.timeout`, DEFAULT_TIMEOUT_MS);
  } catch (e) {
    fail(file, (e as Error).message);
  }
  return {
    run: run as string,
    envVars: envVars as Record<string, string>,
    workDir: workDir as string | undefined,
    timeoutMs,
    if: (conditions as unknown[]).map((c, j) => parseCondition(file, `${where}.if[${j}]`, c)),
  };
}

function parseHookFile(file: string, text: string): Action[] {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    fail(file, `not valid YAML: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) return [];
  if (!Array.isArray(doc)) return fail(file, "must be a list of actions");
  return doc.map((a, i) => parseAction(file, i, a));
}

/** Parsed hook files by path and text: every update reads the hooks, and most never change (the built-in ones never). */
const parsed = new Map<string, Action[]>();
function cachedParse(file: string, text: string): Action[] {
  const key = `${file}\0${text}`;
  let actions = parsed.get(key);
  if (!actions) {
    actions = parseHookFile(file, text);
    if (parsed.size >= 256) parsed.clear();
    parsed.set(key, actions);
  }
  return actions;
}

/** The actions of one hook type, per file (by device path), packaged ones replaced by same-named user ones. */
export function loadHooks(fs: HostFs, type: HookType): { file: string; actions: Action[] }[] {
  const byName = new Map<string, { file: string; text: string }>();
  for (const [name, text] of Object.entries(BUILT_IN[type] ?? {})) byName.set(name, { file: `${PACKAGED_DIR}/${type}/${name}`, text });
  for (const dir of [`${PACKAGED_DIR}/${type}`, `${USER_DIR}/${type}`]) {
    for (const name of fs.list(dir).filter((n) => n.endsWith(".yaml")))
      byName.set(name, { file: `${dir}/${name}`, text: fs.read(`${dir}/${name}`)?.toString("utf8") ?? "" });
  }
  return [...byName.keys()].sort().map((name) => {
    const { file, text } = byName.get(name)!;
    return { file, actions: cachedParse(file, text) };
  });
}

/** Whether `cond` holds, adding the files it matched to `vars` (flightctl's template variables). */
function holds(cond: Condition, ctx: HookContext, vars: Record<string, string[]>): boolean {
  if ("rebooted" in cond) return (ctx.rebooted ?? false) === cond.rebooted;
  const dir = cond.path.endsWith("/");
  const matches = (p: string) => (dir ? p.startsWith(cond.path) : p === cond.path);
  let met = false;
  for (const op of cond.op) {
    const files = (ctx.changes?.[op] ?? []).filter(matches);
    if (files.length === 0) continue;
    met = true;
    vars.Files.push(...files);
    vars[`${op[0].toUpperCase()}${op.slice(1)}Files`].push(...files);
  }
  if (met) vars.Path = [cond.path];
  return met;
}

/** `${Name}` → its value for known names; anything else is left for the program (e.g. a shell variable). */
const render = (run: string, vars: Record<string, string[]>) =>
  run.replace(/\$\{\s*(\w+)\s*\}/g, (whole, name: string) => (name in vars ? vars[name].join(" ") : whole));

/**
 * A command line as words, parsed like a POSIX shell does (quotes, escapes) by shell-quote, but run without a shell:
 * `$NAME` stays as written and shell operators (pipes, redirections, `;`) are refused; use `/bin/sh -c '…'` for those.
 */
export function splitCommandLine(line: string): string[] {
  return parseShell(line, (name) => `$${name}`).map((w) => {
    if (typeof w !== "string") throw new Error(`shell operators are not run without a shell: use /bin/sh -c '…' (in "${line}")`);
    return w;
  });
}

/**
 * Runs the hooks of `type` in order; the first failing action (or an invalid hook file) throws an ApplyError whose
 * element is the hook file. Actions whose program is not installed here are skipped.
 */
export async function runHooks(fs: HostFs, exec: Executor, log: Logger, type: HookType, ctx: HookContext = {}): Promise<void> {
  for (const { file, actions } of loadHooks(fs, type)) {
    for (const [i, action] of actions.entries()) {
      const vars: Record<string, string[]> = { Path: [], Files: [], CreatedFiles: [], UpdatedFiles: [], RemovedFiles: [] };
      if (!action.if.every((c) => holds(c, ctx, vars))) continue;
      const line = render(action.run, vars);
      let words: string[];
      try {
        words = splitCommandLine(line);
      } catch (e) {
        return fail(file, `${type} action #${i + 1}: ${(e as Error).message}`);
      }
      const [cmd, ...args] = words;
      if (!cmd || !exec.available(cmd)) {
        log.debug({ file, action: i + 1, cmd }, "hook program not installed; skipping the action");
        continue;
      }
      if (action.workDir && !fs.exists(action.workDir)) fail(file, `${type} action #${i + 1}: workDir ${action.workDir} does not exist`);
      const r = await exec.run(cmd, args, {
        timeoutMs: action.timeoutMs,
        cwd: fs.real(action.workDir ?? "/"),
        // flightctl hands hooks the agent's pid (its default conf.d hook signals the agent to reload).
        env: { ...action.envVars, FLIGHTCTL_AGENT_PID: String(process.pid) },
      });
      if (r.code !== 0) fail(file, `${type} action #${i + 1} "${line}" failed (${r.code}): ${(r.stderr || r.stdout).trim()}`);
      log.info({ file, action: i + 1, run: line }, `${type} hook ran`);
    }
  }
}
