// npm run bench:profile -- <dir> [devices]: turns what `bench:fleet-scale` leaves in <dir> when run with
// BENCH_PG_STATS, BENCH_CPU_PROF and BENCH_SIM_PROF set to it (see RESULTS.md, "Scale: where a device update's cost
// goes") into figures per device update: statements (calls, rows, time, WAL bytes) from the pg_stat_statements
// snapshots taken at the start and end of the fleet change, rows written per table, and, from the V8 CPU profiles of
// API, worker and simulator cut to the same window, the top self-time functions and the buckets they fall in.
// A reading aid for profiling, not a benchmark: it prints no baseline ratio.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.argv[2];
if (!dir) throw new Error("usage: profile-update.ts <dir> [devices]");
const devices = Number(process.argv[3] ?? 1000);

type Row = Record<string, string | number>;
type Snap = {
  monoUs: number;
  at: number;
  statements: Row[];
  wal: Row;
  tables: Row[];
  postgresCpuMs?: number;
  agentEvents?: Record<string, number>;
};

// The benchmark's own polling (not product work) is left out of the statement figures.
const benchQuery = (q: string) =>
  /device_renders r on r\.org_id = d\.org_id|from device_renders where spec->|coalesce\(sum\(rendered_version\)|pg_stat_|pg_current_wal_lsn|d\.owner = 'Fleet\/bench'/.test(
    q,
  );

const f1 = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const oneLine = (q: string, n = 150) => q.replace(/\s+/g, " ").slice(0, n);

function statements(file: string) {
  const { label, before, after } = JSON.parse(readFileSync(file, "utf8")) as { label: string; before: Snap; after: Snap };
  const key = (r: Row) => `${r.queryid}/${r.datname}`;
  const prev = new Map(before.statements.map((r) => [key(r), r]));
  const nums = [
    "calls",
    "rows",
    "total_exec_time",
    "shared_blks_hit",
    "shared_blks_read",
    "shared_blks_dirtied",
    "wal_records",
    "wal_fpi",
    "wal_bytes",
  ];
  const deltas = after.statements
    .filter((r) => !benchQuery(String(r.query)) && String(r.datname).startsWith("fc_bench"))
    .map((r) => {
      const p = prev.get(key(r));
      const d: Record<string, number> = {};
      for (const k of nums) d[k] = Number(r[k]) - Number(p?.[k] ?? 0);
      return { query: String(r.query), d };
    })
    .filter((x) => x.d.calls > 0);
  const sum = (k: string) => deltas.reduce((s, x) => s + x.d[k], 0);
  const seconds = (after.monoUs - before.monoUs) / 1e6;
  const lsn = (s: string) => {
    const [hi, lo] = s.split("/");
    return Number.parseInt(hi, 16) * 2 ** 32 + Number.parseInt(lo, 16);
  };
  const walBytes = lsn(String(after.wal.lsn)) - lsn(String(before.wal.lsn));
  console.log(`\n## ${label}: ${seconds.toFixed(1)} s window, ${devices} devices\n`);
  console.log(
    `per device update: ${f1(sum("calls") / devices)} statements, ${f1(sum("rows") / devices)} rows, ${f1(sum("total_exec_time") / devices)} ms execution, ` +
      `${f1(sum("shared_blks_dirtied") / devices)} blocks dirtied, WAL ${f1(walBytes / devices / 1024)} KiB (server LSN; statements' own ${f1(sum("wal_bytes") / devices / 1024)} KiB, ` +
      `${f1(sum("wal_records") / devices)} records, ${f1(sum("wal_fpi") / devices)} full-page images); WAL writes ${Number(after.wal.wal_write) - Number(before.wal.wal_write)}, syncs ${Number(after.wal.wal_sync) - Number(before.wal.wal_sync)}`,
  );
  for (const [title, k] of [
    ["by total time", "total_exec_time"],
    ["by calls", "calls"],
    ["by WAL bytes", "wal_bytes"],
  ] as const) {
    console.log(`\n### top statements ${title} (per device update)\n`);
    console.log("| calls | rows | ms | WAL bytes | ms/call | statement |\n|---|---|---|---|---|---|");
    for (const { query, d } of [...deltas].sort((a, b) => b.d[k] - a.d[k]).slice(0, 12))
      console.log(
        `| ${f1(d.calls / devices)} | ${f1(d.rows / devices)} | ${f1(d.total_exec_time / devices)} | ${f1(d.wal_bytes / devices)} | ${(d.total_exec_time / d.calls).toFixed(3)} | \`${oneLine(query)}\` |`,
      );
  }
  if (after.postgresCpuMs)
    console.log(
      `\nPostgres CPU (postmaster and its backends, /proc): ${f1((after.postgresCpuMs - (before.postgresCpuMs ?? 0)) / devices)} ms per device update`,
    );
  console.log("\n### what the simulated agents did per device update (their event counts)\n\n| event | per device update |\n|---|---|");
  for (const [k, v] of Object.entries(after.agentEvents ?? {})) {
    const d = (v - (before.agentEvents?.[k] ?? 0)) / devices;
    if (d > 0.001) console.log(`| ${k} | ${f1(d)} |`);
  }
  const tprev = new Map(before.tables.map((t) => [t.relname, t]));
  console.log("\n### rows written per device update, by table\n\n| table | inserted | updated (HOT) | deleted |\n|---|---|---|---|");
  for (const t of after.tables) {
    const p = tprev.get(t.relname) ?? {};
    const d = (k: string) => (Number(t[k]) - Number((p as Row)[k] ?? 0)) / devices;
    if (d("n_tup_ins") + d("n_tup_upd") + d("n_tup_del") > 0.001)
      console.log(`| ${t.relname} | ${f1(d("n_tup_ins"))} | ${f1(d("n_tup_upd"))} (${f1(d("n_tup_hot_upd"))}) | ${f1(d("n_tup_del"))} |`);
  }
  return { startUs: before.monoUs, endUs: after.monoUs };
}

type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] };
type Profile = { nodes: Node[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] };

// Buckets by where the self time is spent (first match wins, on "function url").
const BUCKETS: [string, RegExp][] = [
  ["GC", /\(garbage collector\)/],
  ["idle", /\(idle\)/],
  ["(program): native code V8 does not attribute", /\(program\)/],
  ["pg driver", /node_modules\/(pg|pg-protocol|pg-pool|pg-types|postgres-)/],
  ["SQL building (drizzle)", /node_modules\/drizzle-orm/],
  ["protobuf (@bufbuild)", /node_modules\/@bufbuild\/protobuf/],
  ["Connect RPC", /node_modules\/@connectrpc/],
  [
    "TLS / HTTP/2 / net (node internals)",
    /node:(_tls|tls|http2|internal\/http2|net|internal\/stream_base|internal\/js_stream|_http|internal\/tls)|writev|getPeerCertificate|onStreamRead|TLSWrap|Http2/,
  ],
  [
    "streams / events / timers (node)",
    /node:(internal\/streams|events|internal\/timers|timers|internal\/process\/task_queues|internal\/event_target)/,
  ],
  ["crypto (node)", /node:(crypto|internal\/crypto)/],
  ["JSON", /^(parse|stringify) |JSON/],
  ["validation", /validation|validate/i],
  ["status computation", /device-status|status-store|summary|conditions/i],
  ["rendering", /renderer|render-store|rendered-device|template/i],
  ["events", /server\/events/],
  ["watch / NOTIFY fan-out", /watch|notif|listen/i],
  ["logging (pino)", /node_modules\/pino/],
  ["tsx loader", /node_modules\/(tsx|esbuild)/],
  ["simulator / agent", /\/agent\//],
  ["server (other)", /\/server\//],
  ["other node_modules", /node_modules/],
  ["node internals (other)", /node:/],
];

function cpu(file: string, win?: { startUs: number; endUs: number }) {
  const p = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Inclusive time of our own functions (server/, agent/, lib/): what a code path costs with all it calls.
  const inclusive = new Map<string, number>();
  const ours = /\/(server|agent|lib)\/[^/].*\.ts$/;
  const self = new Map<number, number>();
  let t = p.startTime;
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i];
    if (win && (t < win.startUs || t > win.endUs)) continue;
    const dt = p.timeDeltas[i + 1] ?? 0;
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + dt);
    total += dt;
    const seen = new Set<string>();
    for (let id: number | undefined = p.samples[i]; id !== undefined; id = parent.get(id)) {
      const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
      if (!ours.test(url) || !functionName) continue;
      const k = `${functionName} ${url.replace(/^.*?\/(server|agent|lib)\//, "$1/")}:${lineNumber + 1}`;
      if (!seen.has(k)) {
        seen.add(k);
        inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
      }
    }
  }
  const fns = new Map<string, number>();
  const buckets = new Map<string, number>();
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const where = url.replace(/^file:\/\/.*?\/(node_modules|server|agent|lib|gen|db)\//, "$1/");
    fns.set(
      `${functionName || "(anonymous)"} ${where}:${lineNumber + 1}`,
      (fns.get(`${functionName || "(anonymous)"} ${where}:${lineNumber + 1}`) ?? 0) + us,
    );
    const label = `${functionName} ${url}`;
    const b = BUCKETS.find(([, re]) => re.test(label))?.[0] ?? (url === "" ? "native / V8 builtins" : "other");
    buckets.set(b, (buckets.get(b) ?? 0) + us);
  }
  const busy = total - (buckets.get("idle") ?? 0);
  console.log(
    `\n### ${file.split("/").pop()}: ${(total / 1e6).toFixed(1)} s sampled, busy ${(busy / 1e6).toFixed(2)} s = ${f1(busy / 1000 / devices)} ms per device update\n`,
  );
  console.log("| bucket | ms per device update | share of busy |\n|---|---|---|");
  for (const [b, us] of [...buckets].sort((a, c) => c[1] - a[1]))
    if (b !== "idle") console.log(`| ${b} | ${f1(us / 1000 / devices)} | ${((us / busy) * 100).toFixed(1)} % |`);
  console.log("\n| self ms per device update | share | function |\n|---|---|---|");
  for (const [f, us] of [...fns].sort((a, c) => c[1] - a[1]).slice(0, 25))
    if (!/^\((idle|program)\)/.test(f)) console.log(`| ${f1(us / 1000 / devices)} | ${((us / busy) * 100).toFixed(1)} % | \`${f}\` |`);
  console.log("\n| inclusive ms per device update | share | our function (with what it calls) |\n|---|---|---|");
  for (const [f, us] of [...inclusive].sort((a, c) => c[1] - a[1]).slice(0, 20))
    console.log(`| ${f1(us / 1000 / devices)} | ${((us / busy) * 100).toFixed(1)} % | \`${f}\` |`);
}

const files = readdirSync(dir);
let win: { startUs: number; endUs: number } | undefined;
for (const f of files.filter((f) => f.startsWith("pgstats-") && f.endsWith(".json"))) win = statements(join(dir, f));
console.log("\n## CPU profiles, cut to the fleet change's window\n");
for (const f of files.filter((f) => f.endsWith(".cpuprofile"))) cpu(join(dir, f), f.startsWith("simulator-") ? undefined : win);
