// The device agent: enroll once, then hold one stream of rendered specs and apply each new version serially
// (prefetch → beforeupdating hooks → applications → config files → OS → afterupdating hooks; a new OS image is
// staged, the host reboots and the next start verifies it, agent/os-update.ts), rolling back to the previous version
// when one fails; report status on change (and, unchanged, only when the stream does not keep the device seen:
// agent/status-cadence.ts); renew the management certificate; decommission
// on request.
import { hostname, arch, platform, release } from "node:os";
import { fromJson, toJson } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import { type DeviceJson, DeviceSchema, type DeviceSpecJson, type DeviceStatusJson } from "../gen/flightctl/v1beta1/device_pb.js";
import type { ConditionJson } from "../gen/flightctl/v1beta1/meta_pb.js";
import { connectAgent, type AgentClients } from "./clients.js";
import type { ConnectSlots } from "./connect-slots.js";
import { UPDATE_RETRY_BASE_MS, UPDATE_RETRY_MAX_MS, type AgentConfig } from "./config.js";
import { appImages, pruneImages } from "./apps/prune.js";
import { ApplyError, AppsRefused, applyApps, applyFiles, planFiles, systemdStatus, type AppState } from "./apply.js";
import { checkBoot } from "./boot.js";
import { createOsManager, type OsManager, type PendingOsUpdate } from "./os-update.js";
import { runHooks, type HookContext, type HookType } from "./hooks.js";
import { prefetch, PrefetchNotReady } from "./prefetch.js";
import { checkWindow, downloadMemory, recheckDelay, WindowClosed } from "./schedules.js";
import { realExecutor, rootedFs, type Executor, type HostFs } from "./host.js";
import {
  dropCertificate,
  enrollmentCsr,
  loadIdentity,
  readCertificate,
  renewalDue,
  saveCertificate,
  validity,
  type Identity,
} from "./identity.js";
import { startResourceMonitor, type ResourceMonitor } from "./resources.js";
import { appContainerStats } from "./apps/container-stats.js";
import { currentSvcClientCert, requestSvcClientCert } from "./svc-client-cert.js";
import type { AgentTelemetry } from "./telemetry.js";
import { createAppMonitor, watchedApps, type AppMonitor } from "./apps/monitor.js";
import { recordedAppStatus } from "./apps/recorded-status.js";
import { createConsoleManager, type ConsoleOptions } from "./console.js";
import { openSpecFiles, openSpecs, versionOf, type SpecFiles, type SpecStore } from "./spec-files.js";
import { mkdirSync, rmSync } from "node:fs";
import { trustAdvice, trustFailure } from "./trust-errors.js";
import { statusCadence } from "./status-cadence.js";

export const AGENT_VERSION = "0.1.0";
// Fixed for the life of the process (a new kernel needs a reboot, so a new agent process): read once, not per report.
const [ARCH, PLATFORM, KERNEL] = [arch(), platform(), release()];
/** A rendered-device stream with no message (device or heartbeat) for this long is treated as dead. */
const STREAM_SILENCE_MS = Number(process.env.FLIGHTCTL_AGENT_STREAM_SILENCE_MS ?? 300_000);
/** Until a new stream's first message (the rendered device or a heartbeat). */
const STREAM_OPEN_MS = Math.max(STREAM_SILENCE_MS, 10 * 60_000);
/**
 * The start's report waits this long, once connected, for the stream's first message (see start()). The service sends
 * it at once (the rendered device or a heartbeat); the wait is for one that does not (an older one: its first
 * heartbeat comes within 30 s).
 */
const START_REPORT_WAIT_MS = 10_000;

/** What the agent tells its host process (the simulator counts these). */
export type AgentEvent =
  | "enrolled"
  | "connected"
  | "disconnected"
  | "applied"
  | "failed"
  | "status"
  | "renewed"
  | "decommissioned"
  /** The service's certificate is not signed by the configured CA (agent/trust-errors.ts). */
  | "server-untrusted"
  /** The service refuses the agent's certificate (enrollment or management). */
  | "certificate-rejected";

export interface AgentOptions {
  config: AgentConfig;
  log: Logger;
  fs?: HostFs;
  exec?: Executor;
  /** Where current/desired/rollback are kept (default: files in the data dir; the simulator keeps them in memory). */
  specStore?: SpecStore;
  /** Shared by simulated agents (one set of readings per process). */
  resources?: ResourceMonitor;
  /** Shared by simulated agents: how many connection attempts may be in progress at once (default: no limit). */
  connectSlots?: ConnectSlots;
  /** Labels proposed at enrollment besides config default-labels. */
  labels?: Record<string, string>;
  /** Called once the enrollment request is submitted (the simulator approves it here). */
  onEnrollmentRequested?: (name: string) => Promise<void>;
  onEvent?: (e: AgentEvent) => void;
  /** Remote console sessions (agent/console.ts); default: enabled, the user's shell. */
  console?: ConsoleOptions;
  /** The clock update and download windows are evaluated against (epoch ms); default Date.now (tests shift it). */
  now?: () => number;
  /**
   * Where application status comes from: "podman" (default) reads it from podman (agent/apps/monitor.ts);
   * "recorded" from what the recording executor recorded as started — the simulator's devices run nothing.
   */
  appStatus?: "podman" | "recorded";
}

class Fatal extends Error {}

/** Waits `ms`, or less if `signal` aborts; leaves no listener behind. */
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });

/** Exponential backoff with ±20 % jitter (flightctl: ×2 from the base delay up to the max). */
function backoff(attempt: number, base: number, max: number) {
  const d = Math.min(max, base * 2 ** attempt);
  return d * (0.8 + 0.4 * Math.random());
}

export function createAgent(opts: AgentOptions) {
  const cfg = opts.config;
  // Every line names the device once its identity is loaded (a simulator runs many agents on one log).
  let log = opts.log;
  const fs = opts.fs ?? rootedFs(cfg.rootDir);
  const exec = opts.exec ?? realExecutor;
  const stop = new AbortController();
  let telemetry: AgentTelemetry | undefined;
  const emit = (e: AgentEvent) => {
    if (e === "applied" || e === "failed" || e === "status" || e === "renewed" || e === "connected") telemetry?.count(e);
    opts.onEvent?.(e);
  };
  const now = opts.now ?? Date.now;
  let downloaded: ReturnType<typeof downloadMemory>;
  let id: Identity;
  let specs: SpecFiles;
  let clients: AgentClients | undefined;
  let cert = "";
  let apps: AppState[] = [];
  let updating: ConditionJson = { type: "Updating", status: "False", reason: "Updated", message: "" };
  let decommission: "Started" | "Completed" | undefined;
  /** The last status the service stored, as JSON text (compared as text: cheaper than a deep compare per report). */
  let lastSent: string | undefined;
  let retryPending = false;
  let ownResources = false;
  let resources: ResourceMonitor;
  let monitor: AppMonitor | undefined;
  /** The monitor follows the apps of the spec that runs now. */
  const watchApps = () => monitor?.setApps(watchedApps(specs.current().spec?.applications));
  const loops: Promise<void>[] = [];
  let reconciling = Promise.resolve();
  let bootId = "";
  let os: OsManager;
  /** Set once the host took the reboot an OS update asked for: nothing more is applied before it. */
  let rebootRequested = false;
  /** An update that could not start yet (prefetch), tried again after a growing delay. */
  const retry = { attempt: 0, version: 0, timer: undefined as NodeJS.Timeout | undefined };
  const consoles = createConsoleManager({
    clients: () => clients,
    deviceName: () => id.name,
    cwd: cfg.rootDir,
    log,
    console: opts.console,
  });
  // Stopping (or decommissioning) ends every console session and its program.
  stop.signal.addEventListener("abort", () => consoles.stopAll(), { once: true });
  stop.signal.addEventListener("abort", () => clearTimeout(retry.timer), { once: true });
  // Its podman events child ends with the agent (a decommission stops it too).
  stop.signal.addEventListener("abort", () => monitor?.close(), { once: true });
  const hooks = (type: HookType, ctx?: HookContext) => runHooks(fs, exec, log, type, ctx);

  /**
   * Logs a failed call and says whether it was a trust failure: those at error with what to do (on every retry, as
   * no retry fixes them), anything else at warn the first time and at debug after.
   */
  function logFailure(e: unknown, what: string, which: "enrollment" | "management", attempt: number, retryMs: number): void {
    const err = ConnectError.from(e).message;
    const retryInS = Math.round(retryMs / 100) / 10;
    const trust = trustFailure(e);
    if (trust) {
      emit(trust);
      log.error({ err, attempt, retryInS }, `${what}: ${trustAdvice(trust, which, cfg.server, cfg.dataDir)}`);
    } else if (attempt === 0) log.warn({ err, retryInS }, `${what}; retrying`);
    else log.debug({ err, attempt, retryInS }, `${what}; retrying`);
  }

  /** Runs one phase of an update and logs its duration. */
  async function phase<T>(version: number, name: string, fn: () => T | Promise<T>): Promise<T> {
    const t0 = performance.now();
    const r = await fn();
    log.info({ version, phase: name, ms: Math.round(performance.now() - t0) }, `apply: ${name} done`);
    return r;
  }

  async function enroll(): Promise<void> {
    const enrollClients = connectAgent(cfg.server, cfg.caPem, cfg.enrollmentCertPem, cfg.enrollmentKeyPem, opts.connectSlots);
    try {
      const csr = await enrollmentCsr(id);
      const labels = { ...opts.labels, ...cfg.defaultLabels };
      for (let attempt = 0; !stop.signal.aborted; attempt++) {
        try {
          log.debug({ server: cfg.server, labels, csr }, "sending the enrollment request");
          await enrollClients.enrollment.createEnrollmentRequest({
            enrollmentRequest: {
              apiVersion: "flightctl.io/v1beta1",
              kind: "EnrollmentRequest",
              metadata: { name: id.name },
              spec: {
                csr,
                labels,
                knownRenderedVersion: String(versionOf(specs.desired())),
                deviceStatus: systemInfoStatus(),
                osMode: os.mode,
              },
            },
          });
          log.info({ server: cfg.server, labels }, "enrollment request sent");
          break;
        } catch (e) {
          if (ConnectError.from(e).code === Code.AlreadyExists) {
            log.info({ server: cfg.server }, "enrollment request already on the service");
            break;
          }
          const delay = backoff(attempt, cfg.specFetchErrorBaseDelayMs, cfg.specFetchErrorMaxDelayMs);
          logFailure(e, "cannot submit the enrollment request", "enrollment", attempt, delay);
          await sleep(delay, stop.signal);
        }
      }
      await opts.onEnrollmentRequested?.(id.name);
      log.info(
        { approve: cfg.enrollmentUiEndpoint ? `${cfg.enrollmentUiEndpoint}/enroll/${id.name}` : undefined },
        "waiting for enrollment approval",
      );
      for (let attempt = 0; !stop.signal.aborted; ) {
        try {
          const er = await enrollClients.enrollment.getEnrollmentRequest({ name: id.name });
          attempt = 0;
          if (er.status?.conditions.some((c) => c.type === "Denied" && c.status === "True")) {
            log.error("enrollment request denied: this device will not be managed; a new key (an empty data dir) makes a new request");
            throw new Fatal(`enrollment request ${id.name} was denied`);
          }
          if (er.status?.approval?.approved)
            log.debug({ approvedBy: er.status.approval.approvedBy }, "enrollment approved; waiting for the certificate");
          if (er.status?.certificate) {
            saveCertificate(id, er.status.certificate);
            const v = validity(er.status.certificate);
            log.info(
              { approvedBy: er.status.approval?.approvedBy, serial: v.serial, expires: v.notAfter.toISOString() },
              "enrollment approved; management certificate received",
            );
            emit("enrolled");
            return;
          }
        } catch (e) {
          if (e instanceof Fatal) throw e;
          // Failing reads back off as submissions do (a service that went away is not polled every interval).
          const delay = Math.max(
            cfg.enrollmentVerifyIntervalMs,
            backoff(attempt, cfg.specFetchErrorBaseDelayMs, cfg.specFetchErrorMaxDelayMs),
          );
          logFailure(e, "cannot read the enrollment request", "enrollment", attempt++, delay);
          await sleep(delay, stop.signal);
          continue;
        }
        await sleep(cfg.enrollmentVerifyIntervalMs, stop.signal);
      }
    } finally {
      enrollClients.close();
    }
  }

  function systemInfoStatus(): Pick<DeviceStatusJson, "systemInfo"> {
    const v = cert ? validity(cert) : undefined;
    return {
      systemInfo: {
        agentVersion: AGENT_VERSION,
        architecture: ARCH,
        operatingSystem: PLATFORM,
        bootID: bootId,
        // Read every time: a host can be renamed while the agent runs.
        hostname: hostname(),
        kernel: KERNEL,
        ...(v ? { managementCertSerial: v.serial, managementCertNotAfter: v.notAfter.toISOString() } : {}),
      },
    };
  }

  /** Connects with the certificate held now (`held`: just read by the caller). */
  function connect(held = readCertificate(id)) {
    clients?.close();
    cert = held ?? "";
    clients = connectAgent(cfg.server, cfg.caPem, cert, id.keyPem, opts.connectSlots);
    // Telemetry sending with the management certificate (no telemetry certificate could be had) follows its renewal.
    if (telemetry && telemetryOnManagementCert && cert) telemetry.setCertificate(cert);
  }

  /**
   * The certificate telemetry presents: the device's device-svc-client certificate (requested when none is held or it
   * is due for renewal), or the management certificate when the service does not issue one now (tried again at the
   * next certificate check). The gateway accepts both and names the device from either.
   */
  let telemetryOnManagementCert = false;
  async function telemetryCertificate(): Promise<string> {
    const held = currentSvcClientCert(id);
    if (held) return held;
    try {
      const pem = await requestSvcClientCert(clients!, id);
      log.info({ serial: validity(pem).serial, expires: validity(pem).notAfter.toISOString() }, "telemetry certificate issued");
      telemetryOnManagementCert = false;
      return pem;
    } catch (e) {
      log.warn({ err: ConnectError.from(e).message }, "cannot get a telemetry certificate; telemetry uses the management certificate");
      telemetryOnManagementCert = true;
      return cert;
    }
  }

  async function startTelemetry() {
    if (!cfg.telemetry || telemetry || !cert) return;
    const certPem = await telemetryCertificate();
    // Loaded only when configured: the OTLP exporter (grpc-js, the OpenTelemetry SDK) is a large part of the agent's
    // modules, which each simulator thread loads again (RESULTS.md, branch connect).
    const { startAgentTelemetry } = await import("./telemetry.js");
    if (stop.signal.aborted) return;
    telemetry = startAgentTelemetry({
      config: cfg.telemetry,
      caPem: cfg.caPem,
      keyPem: id.keyPem,
      certPem,
      rootDir: cfg.rootDir,
      deviceName: id.name,
      agentVersion: AGENT_VERSION,
      log,
      // A simulated device runs nothing: no podman to ask.
      appStats: opts.appStatus === "recorded" ? undefined : () => appContainerStats(exec, watchedApps(specs.current().spec?.applications)),
    });
  }

  async function buildStatus(): Promise<DeviceStatusJson> {
    const current = specs.current();
    const spec = current.spec ?? {};
    const resourceLevels = resources.status();
    const { applications, applicationsSummary } = monitor ? monitor.status() : recordedAppStatus(apps);
    const critical = Object.values(resourceLevels).includes("Critical");
    const warning = Object.values(resourceLevels).includes("Warning") || applications.some((a) => a.status === "Error");
    const conditions: ConditionJson[] = [updating];
    if (decommission) conditions.push({ type: "DeviceDecommissioning", status: "True", reason: decommission, message: "" });
    return {
      ...systemInfoStatus(),
      conditions,
      config: { renderedVersion: String(versionOf(current)) },
      applications,
      applicationsSummary,
      resources: resourceLevels,
      systemd: await systemdStatus(exec, spec),
      os: os.status(),
      capabilities: { osMode: os.mode },
      summary: critical ? { status: "Error", info: "Critical resource alert" } : warning ? { status: "Degraded" } : { status: "Online" },
    };
  }

  /**
   * Sends status when it changed, or always when `force` (status-cadence.ts decides when an unchanged one is due).
   * One report at a time: a report asked for while one is in flight is sent after it, built then (a forced one stays
   * forced: the one in flight may predate what made it due). Two reports in flight could land out of order and leave
   * the service with the older status (seen as a device stuck on its previous version).
   */
  let sending: Promise<void> | undefined;
  let again: { force: boolean } | undefined;
  function report(force = false): Promise<void> {
    const sent = queueReport(force);
    // Whatever report comes first is the start's (start() waits for it).
    if (startReported) void sent.then(startReported);
    startReported = undefined;
    return sent;
  }

  function queueReport(force: boolean): Promise<void> {
    if (sending) {
      again = { force: force || !!again?.force };
      return sending;
    }
    sending = (async () => {
      try {
        await sendReport(force);
        while (again) {
          const next = again;
          again = undefined;
          await sendReport(next.force);
        }
      } finally {
        sending = undefined;
      }
    })();
    return sending;
  }

  async function sendReport(force: boolean) {
    if (!clients) return;
    let status: DeviceStatusJson;
    try {
      status = await buildStatus();
    } catch (err) {
      // Reports are fired from timers and the reconcile chain: a status that cannot be built now (e.g. out of file
      // descriptors) is logged and left to the next heartbeat, never an unhandled rejection that ends the process.
      log.error({ err }, "cannot build the status report");
      return;
    }
    const text = JSON.stringify(status);
    if (!force && text === lastSent) return;
    try {
      // On the status stream when the server has it (status-stream.ts), else one ReplaceDeviceStatus call.
      await clients.status.send(
        {
          name: id.name,
          device: fromJson(
            DeviceSchema,
            { apiVersion: "flightctl.io/v1beta1", kind: "Device", metadata: { name: id.name }, status },
            { ignoreUnknownFields: true },
          ),
        },
        60_000,
      );
      lastSent = text;
      emit("status");
    } catch (e) {
      // lastSent stays the old status, so the change is sent again: soon (the server may only have been busy), not
      // at the next interval. A forced report forgets it, so its retry is sent even unchanged.
      if (force) lastSent = undefined;
      log.debug({ err: ConnectError.from(e).message }, "status report failed");
      if (!retryPending && !stop.signal.aborted) {
        retryPending = true;
        setTimeout(
          () => {
            retryPending = false;
            void report();
          },
          1000 + Math.random() * 4000,
        ).unref();
      }
    }
  }

  /** Whether reconcile applies `version` now: newer than the current one, not failed before, no reboot under way. */
  function applies(version: number): boolean {
    return !rebootRequested && version > versionOf(specs.current()) && !specs.failed.has(version);
  }

  /** Reconciles `device` after what is queued (stream messages and retries run one at a time). */
  function enqueue(device: DeviceJson) {
    clearTimeout(retry.timer);
    reconciling = reconciling.then(() => reconcile(device)).catch((e) => log.error({ err: e }, "reconcile failed"));
  }

  /** Tries `device` again later: flightctl's requeue backoff, ×1.5 per attempt with ±10 % jitter. */
  function retryLater(device: DeviceJson) {
    const version = versionOf(device);
    if (retry.version !== version) Object.assign(retry, { version, attempt: 0 });
    const [base, max] = [cfg.updateRetryBaseDelayMs ?? UPDATE_RETRY_BASE_MS, cfg.updateRetryMaxDelayMs ?? UPDATE_RETRY_MAX_MS];
    const delay = Math.min(max, base * 1.5 ** retry.attempt++) * (0.9 + 0.2 * Math.random());
    retry.timer = setTimeout(() => enqueue(device), delay);
  }

  /**
   * The update itself, in flightctl's order; throws PrefetchNotReady or WindowClosed (try later, nothing changed) or
   * an error (roll back). The update window is checked before the beforeupdating hooks, so they run once, right
   * before the change they announce, not on every check of a closed window.
   */
  async function update(
    version: number,
    from: DeviceSpecJson,
    to: DeviceSpecJson,
  ): Promise<{ running: AppState[]; reboot?: PendingOsUpdate }> {
    os.check(to);
    // Without a download window there is nothing to check or remember (and no file to read).
    if (to.updatePolicy?.downloadSchedule && !downloaded.met(version)) checkWindow("download", version, to, now());
    await phase(version, "prefetch", () => prefetch(exec, from, to));
    // Only a version with a download window needs remembering (no extra file write per update otherwise).
    if (to.updatePolicy?.downloadSchedule) downloaded.set(version);
    checkWindow("update", version, to, now());
    await phase(version, "beforeupdating hooks", () => hooks("beforeupdating", { changes: planFiles(fs, from, to) }));
    updating = { type: "Updating", status: "True", reason: "ApplyingUpdate", message: `Applying version ${version}` };
    const running = await phase(version, "applications", () => applyApps(fs, exec, from, to));
    const changes = await phase(version, "config files", () => applyFiles(fs, from, to));
    log.debug({ version, changes }, "config file changes");
    // The OS last, as flightctl: a staged image needs a reboot, and the afterupdating hooks wait for it (os-update.ts).
    const reboot = await phase(version, "os", () => os.stage(version, to, changes));
    if (reboot) {
      await phase(version, "beforerebooting hooks", () => hooks("beforerebooting"));
      return { running, reboot };
    }
    // A failure here fails the update as in flightctl: what these hooks reload did not take the new files.
    await phase(version, "afterupdating hooks", () => hooks("afterupdating", { changes }));
    return { running };
  }

  /** Reports Rebooting and asks the host to reboot; the update completes (or fails) at the next start. */
  async function rebootInto(version: number, pending: PendingOsUpdate) {
    updating = { type: "Updating", status: "True", reason: "Rebooting", message: `Device is rebooting into OS image: ${pending.image}` };
    await report();
    await phase(version, "reboot request", () => os.reboot());
    rebootRequested = true;
    log.info({ version, image: pending.image }, "reboot requested: the update completes once the new image is booted");
  }

  /**
   * At start, the OS update a reboot was asked for: undefined when there is none for the version being applied or the
   * host has not rebooted yet (the stream sends the version again and it is staged and rebooted again); the update
   * when bootc booted its image; when bootc booted another, the version is rolled back (and remembered as failed).
   */
  async function bootedUpdate(rebooted: boolean): Promise<PendingOsUpdate | undefined> {
    const pending = os.pending();
    if (!pending) return undefined;
    const [current, desired] = [specs.current(), specs.desired()];
    if (pending.version !== versionOf(desired) || versionOf(desired) === versionOf(current)) {
      os.clear();
      return undefined;
    }
    if (!rebooted) return undefined;
    const failure = os.verify(pending);
    if (!failure) return pending;
    log.warn({ version: pending.version, err: failure.message }, "the new OS image did not boot");
    updating = {
      type: "Updating",
      status: "True",
      reason: "RollingBack",
      message: `Device is rolling back to template version: ${versionOf(current)}`,
    };
    await report();
    await rollback(pending.version, current.spec ?? {}, desired.spec ?? {}, failure);
    return undefined;
  }

  /** The rest of an update whose OS image booted: its afterupdating hooks, then it is the current version. */
  async function completeOsUpdate(pending: PendingOsUpdate) {
    const { version } = pending;
    const [from, to] = [specs.current().spec ?? {}, specs.desired().spec ?? {}];
    try {
      await phase(version, "afterupdating hooks", () => hooks("afterupdating", { changes: pending.changes, rebooted: true }));
    } catch (e) {
      await rollback(version, from, to, e);
      // As flightctl: with the spec back, the OS goes back too, to the image it booted before (another reboot).
      const why = await os.stageRollback(pending);
      if (why) return log.error({ version, err: why }, "cannot roll the OS image back; it stays on the new image");
      await hooks("beforerebooting").catch((err: Error) => log.error({ err: err.message }, "beforerebooting hooks failed"));
      await report();
      try {
        await os.reboot();
        rebootRequested = true;
      } catch (err) {
        log.error({ err: (err as Error).message }, "cannot reboot into the previous OS image");
      }
      return;
    }
    os.clear();
    // The applications were started before the reboot (the simulator's recorded status takes them as running; on a
    // real host the monitor reads them from podman).
    apps = (to.applications ?? []).map((a) => ({ name: String(a.name), appType: String(a.appType), status: "Running" as const }));
    resources.configure(to);
    specs.upgrade();
    watchApps();
    updating = { type: "Updating", status: "False", reason: "Updated", message: `Updated to version ${version}` };
    log.info({ version, image: os.status().image }, "updated: the new OS image booted");
    emit("applied");
  }

  /** Applies `device` (a newer rendered version) or rolls back to the current one. */
  async function reconcile(device: DeviceJson) {
    const version = versionOf(device);
    const current = specs.current();
    if (!applies(version)) {
      if (rebootRequested) log.debug({ version }, "a reboot is under way; the version waits for it");
      else log.debug({ version, current: versionOf(current) }, "spec version already applied or failed before; skipped");
      return;
    }
    log.info({ version, current: versionOf(current) }, "spec version received");
    log.debug({ version, spec: device.spec }, "spec");
    const t0 = performance.now();
    specs.setDesired(device);
    const from = current.spec ?? {};
    const to = device.spec ?? {};
    if (to.decommissioning) return decommissionNow();
    updating = { type: "Updating", status: "True", reason: "Preparing", message: `Preparing version ${version}` };
    // Say "Updating" only for updates that take a while; a quick one goes straight to its result (one report, not two).
    const slow = setTimeout(() => void report(), 1000);
    // Images the running version references, read before the update replaces its files (image pruning compares).
    const imagesBefore = appImages(fs, from);
    let prune = false;
    try {
      const done = await update(version, from, to);
      apps = done.running;
      if (done.reboot) {
        clearTimeout(slow);
        return await rebootInto(version, done.reboot);
      }
      prune = true;
      resources.configure(to);
      specs.upgrade();
      watchApps();
      retry.attempt = 0;
      updating = { type: "Updating", status: "False", reason: "Updated", message: `Updated to version ${version}` };
      log.info({ version, ms: Math.round(performance.now() - t0) }, "updated");
      emit("applied");
    } catch (e) {
      if (e instanceof PrefetchNotReady) {
        // Nothing was changed: keep running the current version, not marked failed, and try again later.
        log.info({ version, image: e.image, err: e.message }, "images not ready; will try the update again");
        specs.revert();
        updating = { type: "Updating", status: "True", reason: "Preparing", message: e.message };
        retryLater(device);
      } else if (e instanceof WindowClosed) {
        // As a pull not done yet: nothing changed, the current version keeps running; look again when it opens.
        log.info({ version, window: e.kind, opensAt: e.opensAt && new Date(e.opensAt).toISOString() }, `waiting for the ${e.kind} window`);
        specs.revert();
        updating = { type: "Updating", status: "True", reason: e.kind === "download" ? "Preparing" : "ReadyToUpdate", message: e.message };
        clearTimeout(retry.timer);
        retry.timer = setTimeout(() => enqueue(device), recheckDelay(e, now()));
        retry.timer.unref();
      } else {
        await rollback(version, from, to, e);
      }
    }
    clearTimeout(slow);
    await report();
    if (prune) await pruneImages(exec, log, imagesBefore, appImages(fs, to));
  }

  /** Re-applies the current spec over whatever the failed attempt left, and reports the error. */
  async function rollback(version: number, from: DeviceSpecJson, to: DeviceSpecJson, e: unknown) {
    const message = e instanceof ApplyError ? e.message : `unexpected error: ${(e as Error).message}`.slice(0, 250);
    log.warn({ version, err: message }, "update failed; rolling back");
    specs.rollback();
    os.clear();
    try {
      // Apps refused while being checked were never touched: the previous version runs on, unrestarted.
      if (!(e instanceof AppsRefused)) apps = await applyApps(fs, exec, to, from);
      // flightctl re-syncs the old spec with its after-update hooks: a restored unit file needs its daemon-reload too.
      await hooks("afterupdating", { changes: applyFiles(fs, to, from) });
    } catch (again) {
      log.error({ err: (again as Error).message }, "rollback failed");
    }
    watchApps();
    log.info({ failedVersion: version, version: versionOf(specs.current()) }, "rolled back");
    updating = {
      type: "Updating",
      status: "False",
      reason: "Error",
      message: `Failed to update to version ${version}: ${message}`.slice(0, 250),
    };
    emit("failed");
  }

  async function decommissionNow() {
    log.info("decommission requested: reporting it, then removing this device's identity and data");
    decommission = "Started";
    await report();
    decommission = "Completed";
    await report();
    await telemetry?.close();
    telemetry = undefined;
    // flightctl wipes the identity and everything in the data dir; the device is no longer managed.
    clients?.close();
    clients = undefined;
    rmSync(id.certsDir, { recursive: true, force: true });
    rmSync(cfg.dataDir, { recursive: true, force: true });
    log.info("decommissioned: this device is no longer managed");
    emit("decommissioned");
    stop.abort();
  }

  async function watchLoop() {
    let connections = 0;
    for (let attempt = 0; !stop.signal.aborted; ) {
      const session = new AbortController();
      let first = true;
      let watchdog: NodeJS.Timeout | undefined;
      const onStop = () => session.abort();
      stop.signal.addEventListener("abort", onStop, { once: true });
      try {
        // What runs now: anything newer (including a desired version a crash interrupted) is sent again.
        const known = String(versionOf(specs.current()));
        const stream = clients!.device.watchRenderedDevice({ name: id.name, knownRenderedVersion: known }, { signal: session.signal });
        // The server sends a heartbeat every 30 s: a stream silent for 10 of them is dead even if the connection
        // looks alive (seen with thousands of agents on a loaded host), so it is dropped and opened again. Not sooner:
        // on a host taking thousands of TLS handshakes, one event-loop turn can last over a minute, and dropping
        // streams that are only late restarts the storm (seen at 10,000 agents with a 100 s limit). Opening gets
        // longer still, for agents queued behind such a storm.
        watchdog = setTimeout(() => session.abort(), STREAM_OPEN_MS);
        for await (const msg of stream) {
          clearTimeout(watchdog);
          watchdog = setTimeout(() => session.abort(), STREAM_SILENCE_MS);
          cadence.heard();
          const device = msg.device && toJson(DeviceSchema, msg.device);
          if (first) {
            first = false;
            const again = connections++ > 0;
            log.info({ server: cfg.server, knownVersion: known }, again ? "stream reconnected" : "stream connected");
            attempt = 0;
            emit("connected");
            // After a reconnection the service needs a report (a restored service's handshake, a device the disconnect
            // sweep marked), unchanged or not. The first connection's is the start's: sent now, unless a version to
            // apply came, whose report (after it, or saying it is under way) carries it.
            if (again) void report(true);
            else if (startReported && !(device && applies(versionOf(device)))) void report();
          }
          if (msg.device && device) {
            // Console sessions come on this stream (spec.consoles) without a new rendered version; reconcile skips
            // such a repeat, the console manager opens a relay stream for each new session.
            if (msg.device.spec?.consoles.length) consoles.handle(msg.device.spec.consoles);
            enqueue(device);
          }
        }
        emit("disconnected");
        log.info("stream ended by the service; reconnecting");
      } catch (e) {
        if (stop.signal.aborted) break;
        const err = ConnectError.from(e);
        emit("disconnected");
        // No stream to wait for: the start's report is tried now (and retried as any report).
        if (startReported) void report();
        if (err.code === Code.NotFound) {
          // The device was deleted: forget the certificate and enroll again with the same key (flightctl's 404 rule).
          log.warn("device not found on the service; enrolling again");
          dropCertificate(id);
          clients?.close();
          await enroll();
          connect();
          continue;
        }
        const delay = backoff(attempt, cfg.specFetchErrorBaseDelayMs, cfg.specFetchErrorMaxDelayMs);
        logFailure(e, first ? "cannot open the stream" : "stream lost", "management", attempt++, delay);
        await sleep(delay, stop.signal);
      } finally {
        clearTimeout(watchdog);
        stop.signal.removeEventListener("abort", onStop);
      }
    }
  }

  /**
   * Reads the status from the host every interval and sends it when it changed; unchanged, only when the stream's
   * heartbeats do not already keep the device seen (agent/status-cadence.ts).
   */
  const cadence = statusCadence();
  async function statusLoop() {
    // Jitter spreads many devices' reports over the interval.
    await sleep(Math.random() * cfg.statusUpdateIntervalMs, stop.signal);
    while (!stop.signal.aborted) {
      await report(cadence.due());
      await sleep(cfg.statusUpdateIntervalMs, stop.signal);
    }
  }

  async function certLoop() {
    while (!stop.signal.aborted) {
      await sleep(cfg.certCheckIntervalMs, stop.signal);
      if (!stop.signal.aborted && telemetry && !currentSvcClientCert(id)) telemetry.setCertificate(await telemetryCertificate());
      if (stop.signal.aborted || !cert || !renewalDue(cert)) continue;
      try {
        const { createCsr } = await import("../lib/csr.js");
        const request = Buffer.from(await createCsr(await id.keys(), id.name)).toString("base64");
        const csr = await clients!.certificates.createCertificateSigningRequest({
          certificateSigningRequest: {
            apiVersion: "flightctl.io/v1beta1",
            kind: "CertificateSigningRequest",
            metadata: { name: `renewal-${id.name.slice(0, 20)}-${Date.now().toString(36)}` },
            spec: { request, signerName: "flightctl.io/device-management-renewal", usages: ["clientAuth", "CA:false"] },
          },
        });
        if (csr.status?.certificate) {
          const pem = Buffer.from(csr.status.certificate, "base64").toString("utf8");
          saveCertificate(id, pem);
          log.info({ serial: validity(pem).serial, expires: validity(pem).notAfter.toISOString() }, "management certificate renewed");
          connect();
          emit("renewed");
        }
      } catch (e) {
        log.warn({ err: ConnectError.from(e).message }, "certificate renewal failed; keeping the current certificate");
      }
    }
  }

  /**
   * Set while the start's status report is owed: the next report is it. A starting device reported once before the
   * stream told it its version, then again after applying that: two reports (each a status write on the service) where
   * the second says all the first did — read from the host again, later. So the start's report waits for the stream's
   * first message (watchLoop): a version to apply has its own report (after the update, or "Updating" if it takes over
   * a second); anything else (a heartbeat, the version it runs), a failed stream, or no message START_REPORT_WAIT_MS
   * after connecting, and it is sent then.
   */
  let startReported: (() => void) | undefined;

  /** Starts the loops and resolves once the start's report was sent (or tried), or the agent stopped. */
  async function startReport() {
    let stopped = () => {};
    const reported = new Promise<void>((resolve) => {
      startReported = resolve;
      stopped = () => ((startReported = undefined), resolve());
      stop.signal.addEventListener("abort", stopped, { once: true });
    });
    loops.push(watchLoop(), certLoop());
    let fallback: NodeJS.Timeout | undefined;
    void clients?.connected().then(() => {
      if (startReported) fallback = setTimeout(() => startReported && void report(), START_REPORT_WAIT_MS);
    });
    await reported;
    clearTimeout(fallback);
    stop.signal.removeEventListener("abort", stopped);
    // The periodic reports start after it: their first one, due at once while no stream message was heard yet
    // (status-cadence.ts), would otherwise be the start's report whenever connecting took longer than its jitter
    // (34 % of 10,000 agents connecting at once reported twice).
    loops.push(statusLoop());
  }

  return {
    get name() {
      return id?.name;
    },
    specs: () => specs,
    async start() {
      if (stop.signal.aborted) return;
      mkdirSync(cfg.rootDir, { recursive: true });
      id = await loadIdentity(cfg.dataDir);
      log = opts.log.child({ device: id.name });
      log.info({ server: cfg.server, dataDir: cfg.dataDir, version: AGENT_VERSION }, "agent starting");
      specs = opts.specStore ? openSpecs(opts.specStore) : openSpecFiles(cfg.dataDir);
      os = createOsManager(exec, cfg.dataDir, log);
      downloaded = downloadMemory(cfg.dataDir);
      const boot = checkBoot(fs, cfg.dataDir);
      bootId = boot.bootId;
      ownResources = !opts.resources;
      resources = opts.resources ?? startResourceMonitor(cfg.rootDir);
      const held = readCertificate(id);
      if (held) log.info({ expires: validity(held).notAfter.toISOString() }, "enrolled before; using its management certificate");
      else await enroll();
      if (stop.signal.aborted) return;
      // Enrolling saved a certificate: read it then; else the one read above.
      connect(held || readCertificate(id));
      await os.refresh();
      // As flightctl: whether an OS update booted is settled first (a failed one rolls back), then the reboot hooks.
      const booted = await bootedUpdate(boot.rebooted);
      if (boot.rebooted) {
        // As flightctl: a failing afterrebooting hook is logged, the agent carries on.
        await hooks("afterrebooting", { rebooted: true }).catch((e: Error) => log.error({ err: e.message }, "afterrebooting hooks failed"));
      }
      if (opts.appStatus === "recorded") {
        // A simulated device left its apps started when it last ran.
        apps = (specs.current().spec?.applications ?? []).map((a) => ({
          name: String(a.name),
          appType: String(a.appType),
          status: "Running" as const,
        }));
      } else {
        monitor = createAppMonitor({ exec, log, onChange: () => void report() });
        watchApps();
        // The first report says what podman runs, not what nothing has been read about yet.
        await monitor.resync();
      }
      if (booted) await completeOsUpdate(booted);
      // Telemetry first: it counts the reports, the start's too.
      await startTelemetry();
      await startReport();
    },
    async stop() {
      stop.abort();
      await Promise.allSettled(loops);
      await reconciling;
      await telemetry?.close();
      clients?.close();
      if (ownResources) resources?.close();
    },
    /** Resolves when the agent stopped by itself (decommissioned or fatal). */
    done: () => Promise.allSettled(loops).then(() => undefined),
  };
}

export type Agent = ReturnType<typeof createAgent>;
