// flightctl-alert-exporter's loop. Each copy opens one database session and waits for the exporter's advisory lock;
// the copy holding it reads new events by their seq up to the watch streams' safe horizon (platform/watch/horizon.ts:
// a transaction still in flight with a lower seq is never skipped), turns them into alerts with flightctl's rules
// and stores the alerts and the cursor in one transaction, then posts what changed to Alertmanager (everything, every
// `resendMs`, before Alertmanager's resolve_timeout ends the alerts it was not told about again). Everything runs on
// the session that holds the lock: when that session is lost, so is the lock, and another copy takes over from the
// last commit. Alertmanager down only delays sending: events keep being read, the alerts wait in Postgres. Fleet rules
// (fleet-rules.ts), when configured, are checked after the events of each poll.
import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";
import type { Logger } from "pino";
import * as schema from "../../db/schema/index.js";
import type { Db } from "../platform/db.js";
import { eventsBySeq, seqBefore } from "../platform/event-store.js";
import { createHorizon } from "../platform/watch/horizon.js";
import { createWatchStore, EVENT_SEQ } from "../platform/watch/watch-store.js";
import { startMetricsListener, type MetricsListener } from "../metrics/metrics-http.js";
import { createAlertStore, type AlertRow, type AlertStore } from "./alert-store.js";
import { AlertmanagerError, createAlertPoster, type PostableAlert, type RetryPolicy } from "./alert-poster.js";
import { createExporterMetrics } from "./exporter-metrics.js";
import { processEvents } from "./process-events.js";
import { applyFleetRules } from "./apply-fleet-rules.js";
import type { FleetRule } from "./fleet-rules.js";
import { ALERT_REASONS } from "./rules.js";

export interface AlertExporterSettings {
  /** Alertmanager's base URL (http://host:9093). */
  alertmanagerUrl: string;
  /** How often new events are read (ms). */
  pollMs: number;
  /** How often every held alert is posted again (ms); below Alertmanager's resolve_timeout. */
  resendMs: number;
  /** How often a waiting copy tries the lock (ms). */
  lockRetryMs: number;
  /** host:port of /health and /metrics; unset: none. */
  address?: string;
  retry: RetryPolicy;
  /** Fleet-level rules (fleet-rules.ts), evaluated every poll. */
  fleetRules?: FleetRule[];
}

export interface AlertExporter {
  /** Port of /health and /metrics, when served. */
  port?: number;
  /** Whether this copy holds the lock. */
  readonly leader: boolean;
  metrics: ReturnType<typeof createExporterMetrics>;
  close(): Promise<void>;
}

/** Events per transaction: bounds the statement and the locks held. */
const EVENTS_PER_BATCH = 1000;
/** Backoff after a failed session (lost database): as flightctl, from 1 s doubling to 1 min. */
const BACKOFF_MS = { first: 1000, max: 60_000 };

const toPostable = (a: AlertRow): PostableAlert => ({
  labels: a.labels,
  annotations: a.annotations,
  startsAt: a.startsAt,
  ...(a.endsAt ? { endsAt: a.endsAt } : {}),
});

export async function startAlertExporter(opts: {
  settings: AlertExporterSettings;
  databaseUrl: string;
  connectTimeoutMs?: number;
  log: Logger;
}): Promise<AlertExporter> {
  const { settings, log } = opts;
  const metrics = createExporterMetrics();
  const am = createAlertPoster(settings.alertmanagerUrl, settings.retry, {
    onRequest: (status, seconds) => {
      metrics.requests.inc({ status });
      metrics.requestSeconds.observe(seconds);
    },
    onRetry: () => metrics.retries.inc(),
  });
  const stop = new AbortController();
  let leader = false;
  let lastCheck: string | undefined;
  const started = Date.now();

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        stop.signal.removeEventListener("abort", done);
        resolve();
      }
      stop.signal.addEventListener("abort", done);
    });

  /** Reads the events up to the safe horizon into alerts; one transaction per batch. */
  async function advance(db: Db, store: AlertStore, upTo: number): Promise<void> {
    for (;;) {
      const n = await db.transaction(async (tx) => {
        const saved = await store.cursor(tx);
        // A first run starts before the last hour's events (as flightctl), never past the horizon.
        const cursor = saved ?? Math.min((await seqBefore(tx, 3600)) ?? upTo, upTo);
        metrics.checkpoints.inc({ operation: "load", status: saved === undefined ? "not_found" : "success" });
        if (cursor >= upTo) {
          if (saved === undefined) await store.saveCursor(tx, cursor);
          return 0;
        }
        const batch = await eventsBySeq(tx, ALERT_REASONS, cursor, upTo, EVENTS_PER_BATCH);
        const outcome = await processEvents(store, tx, batch);
        await store.saveCursor(tx, batch.length === EVENTS_PER_BATCH ? batch[batch.length - 1].seq : upTo);
        metrics.checkpoints.inc({ operation: "store", status: "success" });
        metrics.events.inc(batch.length);
        metrics.created.inc(outcome.created);
        metrics.resolved.inc(outcome.resolved);
        return batch.length;
      });
      if (n < EVENTS_PER_BATCH) return;
    }
  }

  /** Posts the changed alerts (or all); each batch Alertmanager takes is marked in the database. */
  async function send(store: AlertStore, all: boolean): Promise<boolean> {
    const rows = await store.toSend(all);
    try {
      await am.post(rows.map(toPostable), (first, count) => store.accepted(rows.slice(first, first + count)), stop.signal);
      return true;
    } catch (err) {
      if (!(err instanceof AlertmanagerError)) throw err;
      metrics.errors.inc({ component: "alertmanager", type: "send" });
      log.warn({ err: err.message, pending: rows.length }, "Alertmanager did not take the alerts; they stay queued");
      return false;
    }
  }

  /** One database session: wait for the lock, then export until stopped or the session fails. */
  async function session(): Promise<void> {
    const client = new pg.Client({ connectionString: opts.databaseUrl, connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000 });
    let lost: Error | undefined;
    client.on("error", (err) => {
      lost = err;
    });
    await client.connect();
    try {
      const db = drizzle(client, { schema }) as unknown as Db;
      const store = createAlertStore(db);
      const watch = createWatchStore(db);
      while (!(await store.tryLock())) {
        if (stop.signal.aborted) return;
        await sleep(settings.lockRetryMs);
        if (lost) throw lost;
      }
      leader = true;
      metrics.leader.set(1);
      log.info("holding the alert exporter lock: exporting");
      const horizon = createHorizon();
      let nextFull = 0;
      while (!stop.signal.aborted) {
        if (lost) throw lost;
        const end = metrics.cycleSeconds.startTimer();
        horizon.add(await watch.sample());
        // A candidate waits for the transactions in flight at the next sample: take it soon, not a poll later.
        if (horizon.waiting) {
          await sleep(Math.min(50, settings.pollMs));
          horizon.add(await watch.sample());
        }
        const safe = horizon.safe?.[EVENT_SEQ];
        if (safe !== undefined) await advance(db, store, safe);
        if (settings.fleetRules?.length) {
          const outcome = await applyFleetRules(db, store, settings.fleetRules);
          metrics.created.inc(outcome.created);
          metrics.resolved.inc(outcome.resolved);
        }
        const full = Date.now() >= nextFull;
        const ok = await send(store, full);
        // After a failure Alertmanager may have restarted empty: the next send is a full one.
        if (!ok) nextFull = 0;
        else if (full) nextFull = Date.now() + settings.resendMs;
        const counts = await store.counts();
        metrics.active.set(counts.active);
        metrics.cycles.inc();
        lastCheck = new Date().toISOString();
        if (ok) metrics.lastSuccess.set(Date.now() / 1000);
        const seconds = end();
        if (seconds > 5) log.warn({ seconds }, "an alert exporter cycle took more than 5 s");
        await sleep(settings.pollMs);
      }
    } finally {
      leader = false;
      metrics.leader.set(0);
      // Ending the session releases the lock.
      await client.end().catch(() => {});
    }
  }

  const loop = (async () => {
    let backoff = BACKOFF_MS.first;
    while (!stop.signal.aborted) {
      try {
        await session();
        backoff = BACKOFF_MS.first;
      } catch (err) {
        if (stop.signal.aborted) break;
        metrics.errors.inc({ component: "exporter", type: "session" });
        log.error({ err }, `alert exporter session failed; retrying in ${backoff / 1000} s`);
        await sleep(backoff);
        backoff = Math.min(backoff * 2, BACKOFF_MS.max);
      }
    }
  })();

  let listener: MetricsListener | undefined;
  try {
    if (settings.address)
      listener = await startMetricsListener(metrics.registry, settings.address, log, () => ({
        status: "ok",
        uptime_seconds: (Date.now() - started) / 1000,
        component: "flightctl-alert-exporter",
        timestamp: new Date().toISOString(),
        last_processing_check: lastCheck ?? null,
        leader,
      }));
  } catch (err) {
    stop.abort();
    await loop;
    throw err;
  }
  return {
    port: listener?.port,
    get leader() {
      return leader;
    },
    metrics,
    async close() {
      stop.abort();
      await loop;
      await listener?.close();
    },
  };
}
