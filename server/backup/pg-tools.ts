// pg_dump and pg_restore: found in FLIGHTCTL_PG_BIN_DIR or on PATH, checked against the server's major version (a
// pg_dump older than the server refuses to dump it, so say why before trying), run with a progress line on stderr.
import { spawn } from "node:child_process";
import { statSync } from "node:fs";
import { join } from "node:path";

/** A tool that cannot be used; the message says what to install or set. */
export class PgToolError extends Error {
  override name = "PgToolError";
}

export type PgTool = "pg_dump" | "pg_restore";

export const toolPath = (tool: PgTool, binDir?: string) => (binDir ? join(binDir, tool) : tool);

/** The major version in `pg_dump (PostgreSQL) 15.20 (Debian ...)`, or undefined. */
export function parseToolMajor(versionLine: string): number | undefined {
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(versionLine);
  return m ? Number(m[1]) : undefined;
}

/** Runs a command; resolves with stdout, rejects with its stderr tail. `onLine` gets stderr lines as they come. */
export function run(cmd: string, args: string[], opts: { onLine?: (line: string) => void; env?: NodeJS.ProcessEnv } = {}) {
  return new Promise<string>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: opts.env ?? process.env });
    let out = "";
    let err = "";
    let partial = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => {
      const text = partial + b.toString();
      const lines = text.split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) {
        err = (err + l + "\n").slice(-4000);
        opts.onLine?.(l);
      }
    });
    child.on("error", (e: NodeJS.ErrnoException) =>
      reject(e.code === "ENOENT" ? new PgToolError(`${cmd}: not found (install postgresql-client, or set FLIGHTCTL_PG_BIN_DIR)`) : e),
    );
    child.on("close", (code) => {
      if (partial) err += partial;
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} failed (exit ${code}): ${err.trim().split("\n").slice(-5).join("; ")}`));
    });
  });
}

/** The tool's major version; it must be at least the server's, or it cannot read (pg_dump) or fully load (pg_restore) it. */
export async function checkToolMajor(tool: PgTool, binDir: string | undefined, serverMajor: number): Promise<number> {
  const line = await run(toolPath(tool, binDir), ["--version"]);
  const major = parseToolMajor(line);
  if (major === undefined) throw new PgToolError(`${tool}: cannot read its version from ${JSON.stringify(line.trim())}`);
  if (major < serverMajor)
    throw new PgToolError(
      `${tool} ${major} is older than the Postgres ${serverMajor} server: install the client tools of Postgres ${serverMajor} or later ` +
        `(postgresql-client-${serverMajor}) and point FLIGHTCTL_PG_BIN_DIR at their bin directory`,
    );
  return major;
}

/** Prints `step: what()` every `everyMs` to `log` while `work` runs. */
export async function withProgress<T>(step: string, what: () => string, log: (line: string) => void, work: Promise<T>, everyMs = 5000) {
  const started = Date.now();
  const timer = setInterval(() => log(`${step}: ${what()} (${Math.round((Date.now() - started) / 1000)} s)`), everyMs);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/** The size of a file being written, for progress lines. */
export function sizeOf(file: string): string {
  try {
    return `${(statSync(file).size / 1_048_576).toFixed(1)} MiB written`;
  } catch {
    return "starting";
  }
}

/** libpq's environment for a URL, so no password appears in a process listing. */
export function pgEnv(url: string): NodeJS.ProcessEnv {
  const u = new URL(url);
  const env: NodeJS.ProcessEnv = { ...process.env, PGHOST: u.hostname.replace(/^\[|\]$/g, ""), PGPORT: u.port || "5432" };
  if (u.username) env.PGUSER = decodeURIComponent(u.username);
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  const db = decodeURIComponent(u.pathname.replace(/^\//, ""));
  if (db) env.PGDATABASE = db;
  const sslmode = u.searchParams.get("sslmode");
  if (sslmode) env.PGSSLMODE = sslmode;
  return env;
}

/** The database name of a URL. */
export const databaseOf = (url: string) => decodeURIComponent(new URL(url).pathname.replace(/^\//, ""));

/** The same server URL with another database. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}
