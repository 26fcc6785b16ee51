// Runs the fuzz suite against a FuzzEnv: fast-check generates cases (seeded, replayable by seed and path) for a time
// budget; each case is sent, its outcome judged; the server's health is checked as it goes and at the end; then the
// database and a List sweep. Failures are collected (not stopped at) and grouped into classes for the report.
import fc from "fast-check";
import { toJson, type DescMethod, type Message } from "@bufbuild/protobuf";
import type { Transport } from "@connectrpc/connect";
import { caseArb, describeCase, encodeMessage, renderRaw, type Credential, type FuzzCase } from "./inputs.js";
import {
  createRawSender,
  judgeError,
  answeredAs,
  judgeRaw,
  PROTOCOLS,
  typedTransports,
  type Outcome,
  type ProtocolName,
  type RawSender,
} from "./protocols.js";
import { codeName, messageShape, verdict } from "./oracle.js";
import { checkDatabase, type DbProblem } from "./db-check.js";
import type { FuzzEnv } from "./env.js";

export interface FuzzOptions {
  /** Time budget for generating and sending cases (the checks after come on top). */
  seconds: number;
  seed: number;
  /** Replay one case: fast-check's path (the case index). */
  path?: string;
  /** Run exactly this many cases (no time budget): replays a run's prefix, for failures that depend on earlier cases. */
  cases?: number;
  /** Bound on each answer. */
  timeoutMs?: number;
  /** Streaming calls are cut this long after they start; an error before that counts. */
  streamCutMs?: number;
  /** Check /healthz every this many cases. */
  healthEvery?: number;
  /** Log every case and its answer (as a replay does). */
  verbose?: boolean;
  /** Where progress and failures are written. */
  log?: (line: string) => void;
}

export interface Failure {
  index: number;
  case: string;
  reason: string;
  code: string;
  message: string;
  klass: string;
  input: string;
  method: string;
  protocol: string;
}

export interface FuzzReport {
  seed: number;
  cases: number;
  skipped: number;
  seconds: number;
  casesPerSecond: number;
  targets: number;
  byCode: Record<string, number>;
  byInput: Record<string, number>;
  /** Milliseconds spent sending cases, per input kind; the rest of the budget went to generating them. */
  msByInput: Record<string, number>;
  /** The slowest answers (case, ms), slowest first. */
  slowest: { case: string; ms: number; code: string }[];
  /** Seconds the checks after the run took (health, List sweep, database). */
  checkSeconds: number;
  failures: Failure[];
  dbProblems: DbProblem[];
  sweep: string[];
  health?: string;
  logStats: FuzzEnv["logStats"];
}

async function callTyped(
  transport: Transport,
  method: DescMethod,
  msg: Message,
  headers: Record<string, string>,
  timeoutMs: number,
  cutMs: number,
): Promise<Outcome> {
  const ac = new AbortController();
  let timedOut = false;
  let cut = false;
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, timeoutMs);
  const cutTimer = method.methodKind === "unary" ? undefined : setTimeout(() => ((cut = true), ac.abort()), cutMs);
  try {
    if (method.methodKind === "unary") {
      await transport.unary(method as never, ac.signal, undefined, headers, msg as never);
    } else {
      const aborted = new Promise<void>((r) => ac.signal.addEventListener("abort", () => r(), { once: true }));
      const input =
        method.methodKind === "bidi_streaming"
          ? (async function* () {
              yield msg as never;
              await aborted; // keep the request side open, as a console would
            })()
          : (async function* () {
              yield msg as never;
            })();
      const res = await transport.stream(method as never, ac.signal, undefined, headers, input);
      for await (const _ of res.message);
    }
    return { code: "ok", message: "", ms: ms() };
  } catch (e) {
    if (cut && !timedOut) return { code: "ok", message: "stream open", ms: ms() };
    return judgeError(e, ms(), timedOut);
  } finally {
    clearTimeout(timer);
    clearTimeout(cutTimer);
  }
}

/** Sends one case; "skip" when its input cannot be put on the wire in its protocol. */
async function runCase(
  env: FuzzEnv,
  typed: Record<Credential, Record<ProtocolName, Transport>>,
  raw: RawSender,
  c: FuzzCase,
  timeoutMs: number,
  cutMs: number,
): Promise<Outcome | "skip"> {
  const t = c.target;
  const headers = c.auth ? env.headers[t.credential] : {};
  if (c.input.kind === "message") {
    if (!encodeMessage(c.protocol, t.method.input, c.input.msg)) return "skip";
    return callTyped(typed[t.credential][c.protocol.name], t.method, c.input.msg, headers, timeoutMs, cutMs);
  }
  const req = renderRaw(c);
  if (!req) return "skip";
  const unary = t.method.methodKind === "unary";
  const h: Record<string, string> = { "content-type": req.contentType, ...headers, ...req.extraHeaders };
  if (c.protocol.wire === "grpc") h.te = "trailers";
  if (c.protocol.wire === "grpc-web") h["x-grpc-web"] = "1";
  if (c.protocol.wire === "connect") h["connect-protocol-version"] = "1";
  const started = performance.now();
  const r = await raw.send(
    env.tls[t.credential],
    c.protocol,
    `/${t.service.typeName}/${t.method.name}`,
    h,
    req.body,
    timeoutMs,
    unary ? undefined : cutMs,
  );
  return judgeRaw(answeredAs(c.protocol, req.contentType), unary, r, Math.round(performance.now() - started));
}

/** After the run: every List RPC, empty request, every protocol, must answer without Internal/Unknown. */
async function listSweep(env: FuzzEnv, typed: Record<Credential, Record<ProtocolName, Transport>>, timeoutMs: number): Promise<string[]> {
  const bad: string[] = [];
  for (const t of env.targets) {
    if (t.method.methodKind !== "unary" || !t.method.name.startsWith("List")) continue;
    for (const p of PROTOCOLS) {
      const o = await callTyped(
        typed[t.credential][p.name],
        t.method,
        { $typeName: t.method.input.typeName } as Message,
        env.headers[t.credential],
        timeoutMs,
        0,
      );
      const why = verdict(o, p);
      if (why) bad.push(`${t.service.typeName}/${t.method.name} ${p.name}: ${why}: ${o.message}`);
    }
  }
  return bad;
}

export async function runFuzz(env: FuzzEnv, opts: FuzzOptions): Promise<FuzzReport> {
  const log = opts.log ?? (() => {});
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const cutMs = opts.streamCutMs ?? 300;
  const healthEvery = opts.healthEvery ?? 100;
  const connections = {
    admin: typedTransports(env.tls.admin),
    device: typedTransports(env.tls.device),
    enrollment: typedTransports(env.tls.enrollment),
  };
  const typed = {
    admin: connections.admin.transports,
    device: connections.device.transports,
    enrollment: connections.enrollment.transports,
  };
  // A connection the server has given up on (GOAWAY, ENHANCE_YOUR_CALM after oversized bodies) fails every later
  // call on it; the case that saw it is recorded, and later cases get a fresh connection so they test something.
  const renew = (cred: Credential) => {
    connections[cred].close();
    connections[cred] = typedTransports(env.tls[cred]);
    typed[cred] = connections[cred].transports;
  };
  const raw = createRawSender();
  const crashes: string[] = [];
  const onCrash = (e: unknown) => crashes.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.on("uncaughtException", onCrash);
  process.on("unhandledRejection", onCrash);
  const report: FuzzReport = {
    seed: opts.seed,
    cases: 0,
    skipped: 0,
    seconds: 0,
    casesPerSecond: 0,
    targets: env.targets.length,
    byCode: {},
    byInput: {},
    msByInput: {},
    slowest: [],
    checkSeconds: 0,
    failures: [],
    dbProblems: [],
    sweep: [],
    logStats: env.logStats,
  };
  const cases = caseArb(env.targets);
  const started = performance.now();
  let index = opts.path ? Number(opts.path.split(":")[0]) : 0;
  const record = (c: FuzzCase, i: number, reason: string, o: { code: Outcome["code"] | string; message: string }) => {
    // A generic message ("internal error") says nothing of the cause; what the input carried does.
    const generic = o.message.length < 40 && !/:/.test(o.message);
    const hint = generic ? inputFeatures(c) : "";
    const f: Failure = {
      index: i,
      case: describeCase(c),
      reason,
      code: typeof o.code === "string" ? o.code : codeName(o.code),
      message: o.message,
      klass: `${reason}: ${messageShape(o.message)}${hint ? ` [input has ${hint}]` : ""}`,
      input: c.input.label,
      method: `${c.target.service.typeName}/${c.target.method.name}`,
      protocol: c.protocol.name,
    };
    report.failures.push(f);
    if (opts.path) log(`FAIL ${f.case}\n  ${reason}: ${o.message}`);
  };
  try {
    const details = await fc.check(
      fc.asyncProperty(cases, async (c) => {
        const i = index++;
        const crashesBefore = crashes.length;
        const t0 = performance.now();
        const o = await runCase(env, typed, raw, c, timeoutMs, cutMs);
        const took = performance.now() - t0;
        report.msByInput[c.input.label] = Math.round((report.msByInput[c.input.label] ?? 0) + took);
        if (o !== "skip" && (report.slowest.length < 5 || took > report.slowest[4].ms)) {
          report.slowest = [...report.slowest, { case: describeCase(c), ms: Math.round(took), code: codeName(o.code) }]
            .sort((a, b) => b.ms - a.ms)
            .slice(0, 5);
        }
        if (o === "skip") {
          report.skipped++;
          return true;
        }
        report.cases++;
        report.byCode[codeName(o.code)] = (report.byCode[codeName(o.code)] ?? 0) + 1;
        report.byInput[c.input.label] = (report.byInput[c.input.label] ?? 0) + 1;
        if (opts.path || opts.verbose) {
          log(`case ${i}: ${describeCase(c)}`);
          if (c.input.kind === "message" && opts.path) log(`  message: ${safeJson(c.target.method.input, c.input.msg)}`);
          log(`  → ${codeName(o.code)}${o.http ? ` (HTTP ${o.http})` : ""} in ${o.ms} ms: ${o.message}`);
        }
        const why = verdict(o, c.protocol);
        if (why) record(c, i, why, o);
        if (why && /NGHTTP2_|GOAWAY|session/i.test(o.message)) renew(c.target.credential);
        if (crashes.length > crashesBefore)
          record(c, i, "process error", { code: "crash", message: crashes[crashes.length - 1].split("\n")[0] });
        if ((report.cases + report.skipped) % healthEvery === 0) {
          const sick = await env.healthy();
          if (sick) record(c, i, "health check failed", { code: "down", message: sick });
        }
        if (report.cases % 500 === 0)
          log(`… ${report.cases} cases, ${report.failures.length} failures, ${Math.round((performance.now() - started) / 1000)} s`);
        return true;
      }),
      opts.path
        ? { seed: opts.seed, path: opts.path, numRuns: 1 }
        : opts.cases
          ? { seed: opts.seed, numRuns: opts.cases }
          : { seed: opts.seed, numRuns: 1_000_000_000, interruptAfterTimeLimit: opts.seconds * 1000, markInterruptAsFailure: false },
    );
    // The property itself never fails; a failure here is the harness's own error (a bug in the suite).
    if (details.failed && !details.interrupted)
      throw new Error(`fuzz harness error at seed ${opts.seed} path ${details.counterexamplePath}: ${String(details.errorInstance)}`);
    report.seconds = (performance.now() - started) / 1000;
    report.casesPerSecond = report.cases / report.seconds;
    const checks = performance.now();
    report.health = await env.healthy();
    report.sweep = await listSweep(env, typed, timeoutMs);
    report.dbProblems = await checkDatabase(env.db.pool);
    report.checkSeconds = (performance.now() - checks) / 1000;
  } finally {
    process.off("uncaughtException", onCrash);
    process.off("unhandledRejection", onCrash);
    raw.close();
    for (const c of Object.values(connections)) c.close();
  }
  return report;
}

/** What in a message input may explain a generic error: NUL, lone surrogates, an out-of-range Timestamp, size. */
function inputFeatures(c: FuzzCase): string {
  if (c.input.kind !== "message") return "";
  if (c.input.label !== "random") return c.input.label;
  let badTimestamp = false;
  const json =
    JSON.stringify(c.input.msg, (_k, v) => {
      if (v?.$typeName === "google.protobuf.Timestamp") {
        const { seconds, nanos } = v as { seconds: bigint; nanos: number };
        if (seconds < -62135596800n || seconds > 253402300799n || nanos < 0 || nanos > 999_999_999) badTimestamp = true;
      }
      return typeof v === "bigint" ? String(v) : v instanceof Uint8Array ? "" : v;
    }) ?? "";
  const features = [];
  if (json.includes("\\u0000")) features.push("NUL");
  // JSON.stringify escapes only lone surrogates.
  if (/\\ud[89a-f][0-9a-f]{2}/i.test(json)) features.push("lone surrogate");
  if (badTimestamp) features.push("out-of-range Timestamp");
  return features.join(", ") || "nothing special";
}

function safeJson(desc: DescMethod["input"], msg: Message): string {
  try {
    const s = JSON.stringify(toJson(desc, msg));
    return s.length > 500 ? `${s.slice(0, 500)}…(${s.length} chars)` : s;
  } catch (e) {
    return `(not JSON-encodable: ${(e as Error).message})`;
  }
}

const top = (counts: Map<string, number>, n = 6) =>
  [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ") + (counts.size > n ? `, … (${counts.size} in all)` : "");

/** The report as lines: totals, then each failure class with counts and one replayable example. */
export function formatReport(r: FuzzReport, replay: (f: Failure) => string): string[] {
  const lines = [
    `fuzz: seed ${r.seed}: ${r.cases} cases (${r.skipped} skipped as unencodable) in ${r.seconds.toFixed(1)} s = ${r.casesPerSecond.toFixed(1)} cases/s over ${r.targets} methods`,
    `  answers: ${Object.entries(r.byCode)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
    `  inputs: ${Object.entries(r.byInput)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
    `  ms sending, by input: ${Object.entries(r.msByInput)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
    `  slowest: ${r.slowest.map((s) => `${s.ms} ms ${s.case} → ${s.code}`).join("; ")}`,
    `  checks after the run: ${r.checkSeconds.toFixed(1)} s`,
    `  server error log lines: ${r.logStats.errors} (${r.logStats.withSql} with SQL text)`,
    ...r.logStats.samples.map((s) => `      log: ${s}`),
  ];
  const classes = new Map<string, Failure[]>();
  for (const f of r.failures) classes.set(f.klass, [...(classes.get(f.klass) ?? []), f]);
  lines.push(`  failures: ${r.failures.length} in ${classes.size} classes`);
  for (const [klass, fs] of [...classes.entries()].sort((a, b) => b[1].length - a[1].length)) {
    const count = (key: (f: Failure) => string) => {
      const m = new Map<string, number>();
      for (const f of fs) m.set(key(f), (m.get(key(f)) ?? 0) + 1);
      return m;
    };
    lines.push(
      `  [${fs.length}] ${klass}`,
      `      methods: ${top(
        count((f) => f.method.replace(/^flightctl\.(v1beta1|agent\.v1beta1)\./, "")),
        5,
      )}`,
      `      protocols: ${top(count((f) => f.protocol))}; inputs: ${top(count((f) => f.input))}`,
      `      e.g. ${fs[0].case} → ${fs[0].code}: ${fs[0].message.slice(0, 160)}`,
      `      replay: ${replay(fs[0])}`,
    );
  }
  if (r.health) lines.push(`  HEALTH: ${r.health}`);
  for (const s of r.sweep) lines.push(`  LIST SWEEP: ${s}`);
  for (const p of r.dbProblems.slice(0, 20)) lines.push(`  DATABASE: ${p.table}/${p.name}: ${p.problem}`);
  if (r.dbProblems.length > 20) lines.push(`  DATABASE: … ${r.dbProblems.length} problems in all`);
  return lines;
}
