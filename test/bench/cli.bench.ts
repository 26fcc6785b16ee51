// npm run bench:cli — wall time of the flightctl process: `flightctl version` (one RPC) and `flightctl get devices`
// (100 rows, table), against the API running as its own process, with `node -e 0` in the same run as the
// process-start baseline. Also `get devices` without the bundle's V8 code cache (the first run of a command after
// install, which writes the cache) and the same commands from the TypeScript sources through tsx, to show what the
// bundle saves. Prints median and mean of BENCH_RUNS runs (default 15) and the difference to the baseline.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { migrate } from "../../db/migrate.js";
import { BIN, buildCli } from "../helpers/cli.js";
import { benchDatabase, startServerProcess } from "./server-process.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const CODE_CACHE = fileURLToPath(new URL("../../dist/cli/flightctl.cjs.cache", import.meta.url));

function timeOnce(args: string[], env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
    child.on("close", (code) =>
      code === 0 ? resolve(performance.now() - start) : reject(new Error(`${args.join(" ")}: exit ${code}: ${err}`)),
    );
  });
}

/** `before` runs ahead of every run, untimed. */
async function measure(args: string[], env: Record<string, string>, before = () => {}) {
  before();
  await timeOnce(args, env); // warm the file cache (and write the code cache)
  const xs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    before();
    xs.push(await timeOnce(args, env));
  }
  xs.sort((a, b) => a - b);
  return { median: xs[Math.floor(xs.length / 2)], mean: xs.reduce((a, b) => a + b, 0) / xs.length };
}

async function main() {
  buildCli();
  const dbh = await benchDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), "fc-bench-cli-"));
  const server = await (async () => {
    await migrate(dbh.url);
    return startServerProcess(dbh.url, dataDir);
  })();
  try {
    const pool = new pg.Pool({ connectionString: dbh.url });
    await pool.query(
      `insert into devices (org_id, name, labels, spec, status) select '00000000-0000-0000-0000-000000000000', 'dev-' || lpad(i::text, 4, '0'),
         jsonb_build_object('site', 'lab'), '{}'::jsonb,
         '{"summary":{"status":"Online"},"updated":{"status":"UpToDate"},"applicationsSummary":{"status":"Healthy"}}'::jsonb
       from generate_series(1, 100) i`,
    );
    await pool.end();
    const cfgDir = join(dataDir, "cli");
    const env = { FLIGHTCTL_CONFIG_DIR: cfgDir };
    const token = server.headers.authorization.slice("Bearer ".length);
    await timeOnce([BIN, "login", `https://localhost:${server.port}`, "--certificate-authority", server.caPath, "--token", token], env);

    const rows: [string, { median: number; mean: number }][] = [];
    const baseline = await measure(["-e", "0"], env);
    rows.push(["node -e 0 (baseline)", baseline]);
    rows.push(["flightctl version", await measure([BIN, "version"], env)]);
    rows.push(["flightctl get devices (100 rows)", await measure([BIN, "get", "devices"], env)]);
    const noCodeCache = () => rmSync(CODE_CACHE, { force: true });
    rows.push(["flightctl get devices, no code cache", await measure([BIN, "get", "devices"], env, noCodeCache)]);
    rows.push(["flightctl version, from source (tsx)", await measure([BIN, "version"], { ...env, FLIGHTCTL_CLI_FROM_SOURCE: "1" })]);
    rows.push([
      "flightctl get devices, from source (tsx)",
      await measure([BIN, "get", "devices"], { ...env, FLIGHTCTL_CLI_FROM_SOURCE: "1" }),
    ]);
    process.stdout.write(`\nflightctl wall time, ${RUNS} runs each (ms)\n`);
    process.stdout.write(
      `${"command".padEnd(44)}${"median".padStart(9)}${"mean".padStart(9)}${"- node -e 0".padStart(13)}${"ratio".padStart(8)}\n`,
    );
    for (const [name, r] of rows) {
      process.stdout.write(
        `${name.padEnd(44)}${r.median.toFixed(0).padStart(9)}${r.mean.toFixed(0).padStart(9)}${(r.median - baseline.median).toFixed(0).padStart(13)}${(r.median / baseline.median).toFixed(2).padStart(8)}\n`,
      );
    }
    process.stdout.write(`target: within 150 ms of node -e 0\n`);
  } finally {
    await server.close();
    await dbh.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
