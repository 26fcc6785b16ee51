// What must hold after each fault; each check returns the problems it found (empty: it held), worded for a report.
import { Code } from "@connectrpc/connect";
import type { FaultEnv } from "./env.js";
import type { FaultRun } from "./faults.js";
import { VALUE_LABEL, WRITER_LABEL, type Call, type Seen, type Watcher } from "./load.js";

/** After the cause of a fault is gone, every call must succeed within this. */
export const RECOVERY_GRACE_MS = 5000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const first = (lines: string[], n = 5) => (lines.length > n ? [...lines.slice(0, n), `… and ${lines.length - n} more`] : lines);

/** Service or simulator processes that exited without being asked to during the run, one line per process. */
export function unaskedExits(env: FaultEnv, run: FaultRun): string[] {
  const byName = new Map<string, typeof env.exits>();
  for (const e of env.exits.filter((x) => x.at >= run.start)) byName.set(e.name, [...(byName.get(e.name) ?? []), e]);
  const why = (e: (typeof env.exits)[number]) =>
    (
      e.tail
        .split("\n")
        .filter((l) => /error|fatal|ECONN|57P|terminat/i.test(l))
        .slice(-2)
        .join(" | ") || e.tail.slice(-300)
    ).slice(0, 400);
  return [...byName].map(([name, list]) => {
    const e = list[0];
    const again = list.length > 1 ? `; exited ${list.length - 1} more time(s) after restarts, the last: ${why(list.at(-1)!)}` : "";
    return `${name} exited unasked at +${((e.at - run.injected) / 1000).toFixed(1)} s (code ${e.code}, signal ${e.signal}): ${why(e)}${again}`;
  });
}

/** Every failed call of the writers and watchers in the run (watch streams ending without an error are not failures). */
export function failedCalls(env: FaultEnv, run: FaultRun): Call[] {
  const all = [...env.writers.calls, ...env.watchers.flatMap((w) => w.errors)];
  return all.filter((c) => c.start >= run.start && c.end <= run.end + 15_000 && c.code !== undefined).sort((a, b) => a.start - b.start);
}

/**
 * The server never answered: the connection was refused or reset under the call (the process died or was killed).
 * The client library reports a reset as Aborted; to a caller it is the same as Unavailable (retry elsewhere/later).
 */
export const connectionLost = (c: Call) =>
  /ECONNRESET|ECONNREFUSED|ERR_HTTP2|NGHTTP2|GOAWAY|socket hang up|http\/2 stream closed/i.test(c.message ?? "");

/** Failed calls whose code is not Unavailable (and not a lost connection), by op and code. */
export function wrongCodes(failed: Call[]): string[] {
  const groups = new Map<string, { n: number; sample: string }>();
  for (const c of failed) {
    if (c.code === Code.Unavailable || connectionLost(c)) continue;
    const key = `${c.op} ${Code[c.code!]}`;
    const g = groups.get(key) ?? { n: 0, sample: c.message ?? "" };
    g.n++;
    groups.set(key, g);
  }
  return [...groups].map(([k, g]) => `${g.n} × ${k} (not Unavailable): ${g.sample}`);
}

/** Calls that started more than RECOVERY_GRACE_MS after the fault's cause was gone and still failed. */
export function lateFailures(failed: Call[], run: FaultRun): string[] {
  const late = failed.filter((c) => c.start > run.recovered + RECOVERY_GRACE_MS);
  if (late.length === 0) return [];
  const c = late[0];
  return [
    `${late.length} call(s) failed more than ${RECOVERY_GRACE_MS / 1000} s after recovery; first ${c.op} at +${((c.start - run.recovered) / 1000).toFixed(1)} s: ${c.code === undefined ? "" : Code[c.code]} ${c.message}`,
  ];
}

/** Acknowledged writes missing from the database (call with the writers paused: see quiescedChecks): created objects absent, or values older than the last acknowledged. */
export async function lostWrites(env: FaultEnv, run: FaultRun): Promise<{ acked: number; lost: string[] }> {
  const rows = new Map<string, { v: string; rv: string }>();
  for (const [kind, table] of [
    ["Device", "devices"],
    ["Fleet", "fleets"],
  ]) {
    const r = await env.pool.query(`select name, labels->>$1 v, resource_version::text rv from ${table} where labels ? $2`, [
      VALUE_LABEL,
      WRITER_LABEL,
    ]);
    for (const row of r.rows) rows.set(`${kind}/${row.name}`, { v: row.v, rv: row.rv });
  }
  let acked = 0;
  const lost: string[] = [];
  for (const [key, o] of env.writers.objects) {
    if (o.value === undefined) continue;
    acked += o.value + 1;
    const row = rows.get(key);
    const allowed = [o.value, ...o.unknown];
    // The object's calls, for telling a harness mistake from a real loss.
    const story = () =>
      env.writers.calls
        .filter((c) => c.target === key)
        .slice(-4)
        .map(
          (c) =>
            `${c.op} at ${((c.start - run.injected) / 1000).toFixed(2)}..${((c.end - run.injected) / 1000).toFixed(2)} s ${c.code === undefined ? "ok" : Code[c.code]}`,
        )
        .join(", ");
    if (row === undefined) lost.push(`${key}: acknowledged (value ${o.value}) but not in the database; ${story()}`);
    else if (!allowed.includes(Number(row.v))) {
      lost.push(
        `${key}: value ${row.v} at version ${row.rv} in the database, ${o.value} acknowledged at version ${o.rv} (values sent: ${o.history.slice(-4).join(", ")}); ${story()}`,
      );
    }
  }
  return { acked, lost: first(lost) };
}

/** Waits (up to `timeoutMs`) for every agent to hold its stream and run the rollout's content; says what is missing. */
export async function agentsConverged(env: FaultEnv, run: FaultRun, timeoutMs: number): Promise<{ problems: string[]; seconds: number }> {
  const deadline = Date.now() + timeoutMs;
  let connected = -1;
  let running = -1;
  while (Date.now() < deadline) {
    connected = await env.connectedAgents().catch(() => -1);
    running = await env.runningContent(run.content).catch(() => -1);
    if (connected === env.agents && running === env.agents) {
      return { problems: [], seconds: ((run.convergedAt ?? Date.now()) - run.recovered) / 1000 };
    }
    await sleep(500);
  }
  const problems: string[] = [];
  if (connected !== env.agents)
    problems.push(`${connected} of ${env.agents} agents on their stream ${timeoutMs / 1000} s after the checks began`);
  if (running !== env.agents) {
    const detail = await env.rolloutDetail(run.content).catch((e: Error) => `(no detail: ${e.message})`);
    problems.push(`rollout incomplete: ${running} of ${env.agents} devices run the rollout's template (${detail})`);
  }
  return { problems, seconds: NaN };
}

/**
 * Reads the database against what the writers and watchers saw, with the writers paused (no write is acknowledged
 * between the read and the comparison).
 */
export async function quiescedChecks(env: FaultEnv, run: FaultRun, watchTimeoutMs: number): Promise<{ lost: string[]; watch: string[] }> {
  await env.writers.pause();
  try {
    const { lost } = await lostWrites(env, run);
    const watch: string[] = [];
    for (const w of env.watchers) watch.push(...(await watcherExact(env, w, watchTimeoutMs)));
    return { lost, watch };
  } finally {
    env.writers.resume();
  }
}

/**
 * Every watcher's view of the writers' objects equals the database (the last version it was
 * sent of each is the stored one), and it was sent no change twice or out of order. Intermediate versions may be
 * coalesced into a later one (a watch sends the state after a change, as Kubernetes' does after a compaction).
 */
async function watcherExact(env: FaultEnv, w: Watcher, timeoutMs: number): Promise<string[]> {
  const table = w.kind === "Device" ? "devices" : "fleets";
  // Read again on every comparison: with the writers paused the worker still writes their fleets (a validation retried
  // after the fault), so a first read can be older than what the watcher is rightly sent next.
  const diff = async () => {
    const db = new Map<string, number>();
    const { rows } = await env.pool.query(`select name, resource_version::text rv from ${table} where labels ? $1`, [WRITER_LABEL]);
    for (const row of rows) db.set(row.name, Number(row.rv));
    const last = new Map<string, number>();
    const lastSeen = new Map<string, Seen>();
    for (const s of w.seen) if (s.type !== "DELETED") last.set(s.name, s.rv), lastSeen.set(s.name, s);
    const out: string[] = [];
    for (const [name, rv] of db) {
      const got = last.get(name);
      if (got !== rv) {
        const acked = env.writers.objects.get(`${w.kind}/${name}`)?.rv;
        out.push(
          `${w.kind}/${name}: database at version ${rv}${acked === String(rv) ? " (the writer's last acknowledged write)" : ` (not a write the writer saw acknowledged: ${acked})`}, watcher last sent ${got ?? "nothing"}${
            lastSeen.get(name)
              ? ` (a ${lastSeen.get(name)?.type} whose object says ${lastSeen.get(name)?.objectRv}; its history: ${w.seen
                  .filter((s) => s.name === name)
                  .slice(-4)
                  .map((s) => `${s.type}@${s.rv}/${s.objectRv}`)
                  .join(" ")})`
              : ""
          }`,
        );
      }
    }
    for (const name of last.keys()) if (!db.has(name)) out.push(`${w.kind}/${name}: sent to the watcher, not in the database`);
    return out;
  };
  const deadline = Date.now() + timeoutMs;
  let missing = await diff();
  while (missing.length > 0 && Date.now() < deadline) {
    await sleep(250);
    missing = await diff();
  }
  const problems = first(missing).map((m) => `watcher: ${m}`);
  if (missing.length > 0) {
    const last = w.seen.at(-1);
    const err = w.errors.at(-1);
    problems.push(
      `watcher ${w.kind}: last change received ${last ? `${((Date.now() - last.at) / 1000).toFixed(1)} s ago` : "never"}, ${w.errors.length} stream error(s)${err ? `, the last ${((Date.now() - err.end) / 1000).toFixed(1)} s ago: ${err.code === undefined ? "" : Code[err.code]} ${err.message}` : ""}`,
    );
  }
  const byName = new Map<string, Set<number>>();
  const lastRv = new Map<string, number>();
  const dup: string[] = [];
  for (const s of w.seen) {
    const set = byName.get(s.name) ?? new Set<number>();
    byName.set(s.name, set);
    if (set.has(s.rv)) dup.push(`${w.kind}/${s.name} version ${s.rv} (${s.type}) sent twice`);
    else if ((lastRv.get(s.name) ?? 0) > s.rv) dup.push(`${w.kind}/${s.name} version ${s.rv} sent after ${lastRv.get(s.name)}`);
    set.add(s.rv);
    lastRv.set(s.name, Math.max(lastRv.get(s.name) ?? 0, s.rv));
  }
  problems.push(...first(dup).map((d) => `watcher: ${d}`));
  return problems;
}
