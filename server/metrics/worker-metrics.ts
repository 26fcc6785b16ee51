// A job runner's metrics, from graphile-worker's events (flightctl's worker collector names; `replica` tells the
// worker processes apart): jobs run, retried and failed for good, in total and by task, and how long they took.
// Only listens: the runner's lock keeping (jobs/runner.ts) is untouched.
import type { Job, WorkerEvents } from "graphile-worker";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** 10 ms .. ~160 s, as flightctl's message histogram. */
const MESSAGE_BUCKETS = Array.from({ length: 15 }, (_, i) => 0.01 * 2 ** i);
/** 50 ms .. ~400 s, as flightctl's task histogram. */
const TASK_BUCKETS = Array.from({ length: 14 }, (_, i) => 0.05 * 2 ** i);

/** Registers the worker's metrics in `registry`; returns what attaches them to a runner's events. */
export function registerWorkerMetrics(registry: Registry, replica: string) {
  const r = { replica };
  const registers = [registry];
  // Jobs being run now, by runner (graphile-worker pool id): a runner that stopped unasked takes its jobs with it.
  const running = new Map<string, { pool: string; started: number }>();
  new Gauge({
    name: "flightctl_worker_messages_in_progress",
    help: "Jobs being run now.",
    labelNames: ["replica"],
    registers,
    collect() {
      this.set(r, running.size);
    },
  });
  const processed = new Counter({
    name: "flightctl_worker_messages_processed_total",
    help: "Job runs by outcome: success, queued_for_retry (failed, will run again), permanent_failure (failed its last attempt).",
    labelNames: ["replica", "status"],
    registers,
  });
  const retries = new Counter({
    name: "flightctl_worker_message_retries_total",
    help: "Job runs that were a retry (a second or later attempt).",
    labelNames: ["replica"],
    registers,
  });
  const retryable = new Counter({
    name: "flightctl_worker_retryable_failures_total",
    help: "Job runs that failed and will be tried again.",
    labelNames: ["replica"],
    registers,
  });
  const permanent = new Counter({
    name: "flightctl_worker_permanent_failures_total",
    help: "Job runs that failed their last attempt (the job is given up).",
    labelNames: ["replica"],
    registers,
  });
  const duration = new Histogram({
    name: "flightctl_worker_message_processing_duration_seconds",
    help: "How long job runs took, whatever their task and outcome.",
    labelNames: ["replica"],
    buckets: MESSAGE_BUCKETS,
    registers,
  });
  const byType = new Counter({
    name: "flightctl_worker_tasks_by_type_total",
    help: "Job runs started, by task.",
    labelNames: ["replica", "task_type"],
    registers,
  });
  const taskDuration = new Histogram({
    name: "flightctl_worker_task_execution_duration_seconds",
    help: "How long job runs took, by task.",
    labelNames: ["replica", "task_type"],
    buckets: TASK_BUCKETS,
    registers,
  });
  const taskFailures = new Counter({
    name: "flightctl_worker_task_failures_total",
    help: "Failed job runs by task and outcome (queued_for_retry, permanent_failure).",
    labelNames: ["replica", "task_type", "status"],
    registers,
  });
  const consumers = new Gauge({
    name: "flightctl_worker_consumers_active",
    help: "Concurrent job slots of this worker's runner.",
    labelNames: ["replica"],
    registers,
  });
  consumers.set(r, 0);
  const lastSuccess = new Gauge({
    name: "flightctl_worker_last_successful_task_timestamp_seconds",
    help: "When a job last succeeded (Unix time).",
    labelNames: ["replica"],
    registers,
  });

  const finish = (job: Job): number | undefined => {
    const run = running.get(job.id);
    if (!run) return undefined;
    running.delete(job.id);
    const seconds = (performance.now() - run.started) / 1000;
    duration.observe(r, seconds);
    taskDuration.observe({ ...r, task_type: job.task_identifier }, seconds);
    return seconds;
  };

  return {
    /** Listens to a runner's events (jobs/runner.ts JobRunnerOptions.observe). */
    observe(events: WorkerEvents) {
      events.on("worker:create", () => consumers.inc(r));
      events.on("worker:stop", () => consumers.dec(r));
      events.on("job:start", ({ worker, job }) => {
        running.set(job.id, { pool: worker.workerPool.id, started: performance.now() });
        byType.inc({ ...r, task_type: job.task_identifier });
        // get_job counts the attempt before handing the job out: 1 on a first run.
        if (job.attempts > 1) retries.inc(r);
      });
      events.on("job:success", ({ job }) => {
        finish(job);
        processed.inc({ ...r, status: "success" });
        lastSuccess.set(r, Date.now() / 1000);
      });
      events.on("job:error", ({ job }) => {
        finish(job);
        const status = job.attempts >= job.max_attempts ? "permanent_failure" : "queued_for_retry";
        processed.inc({ ...r, status });
        (status === "permanent_failure" ? permanent : retryable).inc(r);
        taskFailures.inc({ ...r, task_type: job.task_identifier, status });
      });
      // A runner that stopped (asked or not) runs none of the jobs it had.
      events.on("pool:release", ({ workerPool }) => {
        for (const [id, run] of running) if (run.pool === workerPool.id) running.delete(id);
      });
    },
  };
}

export type WorkerMetrics = ReturnType<typeof registerWorkerMetrics>;
