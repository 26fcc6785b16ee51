// Console sessions: the rules (who may open one on which device, limits, timeouts) and the two ends of the relay.
// The user's end (the replica holding the user's stream) owns the session: it records the output and writes the
// session row when it ends. The device's end (the replica holding the agent's console stream) pipes frames between
// the agent and the relay. Either end leaving sends a close frame through the relay, so the other end (and the
// program on the device) stops too; both ends also enforce the idle and total time limits on their own, so a
// session whose other replica died still ends.
import { randomUUID } from "node:crypto";
import { create, fromBinary, fromJson, toBinary, toJson, toJsonString, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Logger } from "pino";
import {
  ConsoleCloseSchema,
  ConsoleFrameSchema,
  ConsoleSessionMetadataSchema,
  ConsoleSessionSchema,
  type ConsoleFrame,
  type ConsoleSession,
  type ConsoleSessionMetadata,
} from "../../gen/flightctl/v1beta1/console_pb.js";
import { DeviceConsoleSchema, type DeviceConsole } from "../../gen/flightctl/v1beta1/device_pb.js";
import { ANNOTATION_AWAITING_RECONNECT, ANNOTATION_CONFLICT_PAUSED, DISCONNECTED_AFTER_MS } from "../devices/device-status.js";
import { insertEvent } from "../platform/event-store.js";
import { busy, invalid, notFound, precondition, unavailable, type FieldViolation } from "../platform/errors.js";
import type { Caller } from "../platform/identity.js";
import type { Db } from "../platform/resource/resource-store.js";
import { batchLoader } from "../platform/batch-loader.js";
import { subdomainProblem } from "../platform/validation/names.js";
import { createAsyncQueue } from "../../lib/async-queue.js";
import { createRecorder } from "./asciicast.js";
import { createConsoleStore, type SessionRow } from "./console-store.js";
import type { ConsoleRelay } from "./console-relay.js";
import { DEFAULT_CONSOLE_LIMITS, type ConsoleLimits } from "./console-limits.js";
import { quote } from "../../lib/quote.js";
import { keyedListeners } from "../platform/keyed-listeners.js";

export type { ConsoleLimits };

// Relay entries: a type byte, then the payload. 0 = a ConsoleFrame (binary proto); 1 = the device attached.
const ATTACHED = Uint8Array.of(1);
function frameEntry(f: ConsoleFrame): Uint8Array {
  const b = toBinary(ConsoleFrameSchema, f);
  const out = new Uint8Array(b.length + 1);
  out.set(b, 1);
  return out;
}
function decodeEntry(e: Uint8Array): ConsoleFrame | "attached" {
  return e[0] === 1 ? "attached" : fromBinary(ConsoleFrameSchema, e.subarray(1));
}
type CloseInit = MessageInitShape<typeof ConsoleCloseSchema>;
const closeFrame = (c: CloseInit): ConsoleFrame =>
  create(ConsoleFrameSchema, { frame: { case: "close", value: create(ConsoleCloseSchema, c) } });

const TERM = /^[A-Za-z0-9._-]{1,64}$/;
const MAX_INPUT_FRAMES = 256;
const MAX_INPUT_BYTES = 1024 * 1024;

function checkSize(s: { width: number; height: number } | undefined, field: string, out: FieldViolation[]) {
  if (!s) return;
  if (s.width < 1 || s.width > 1000) out.push({ field: `${field}.width`, message: `must be between 1 and 1000, got ${s.width}` });
  if (s.height < 1 || s.height > 1000) out.push({ field: `${field}.height`, message: `must be between 1 and 1000, got ${s.height}` });
}

/** Session metadata with defaults filled in; invalid fields are named. */
export function normalizeMetadata(m: ConsoleSessionMetadata | undefined, field = "open.metadata"): ConsoleSessionMetadata {
  const out = create(ConsoleSessionMetadataSchema, m ?? { tty: true });
  const v: FieldViolation[] = [];
  out.term ||= "xterm-256color";
  if (!TERM.test(out.term))
    v.push({ field: `${field}.term`, message: `must be 1-64 letters, digits, ".", "-" or "_", got ${quote(out.term.slice(0, 80))}` });
  out.initialDimensions ??= { $typeName: "flightctl.v1beta1.ConsoleSize", width: 80, height: 24 };
  checkSize(out.initialDimensions, `${field}.initialDimensions`, v);
  if (out.command) {
    const c = out.command;
    const total = c.args.reduce((n, a) => n + Buffer.byteLength(a), Buffer.byteLength(c.command));
    if (!c.command) v.push({ field: `${field}.command.command`, message: "is required when a command is given" });
    else if (Buffer.byteLength(c.command) > 4096) v.push({ field: `${field}.command.command`, message: "must be at most 4096 bytes" });
    if (c.args.length > 256) v.push({ field: `${field}.command.args`, message: `must have at most 256 arguments, got ${c.args.length}` });
    if (total > 65536) v.push({ field: `${field}.command`, message: `command and arguments must be at most 64 KiB, got ${total} bytes` });
    if ([c.command, ...c.args].some((a) => a.includes("\0"))) v.push({ field: `${field}.command`, message: "must not contain NUL bytes" });
  }
  if (v.length) throw invalid(v);
  return out;
}

/** Input frames a user may send: stdin, resize, stdin_eof, close. */
function checkInput(frames: ConsoleFrame[], field: string) {
  if (frames.length > MAX_INPUT_FRAMES)
    throw invalid({ field, message: `at most ${MAX_INPUT_FRAMES} frames per call, got ${frames.length}` });
  let bytes = 0;
  frames.forEach((f, i) => {
    const at = frames.length > 1 ? `${field}[${i}]` : field;
    switch (f.frame.case) {
      case "stdin":
        bytes += f.frame.value.length;
        break;
      case "resize": {
        const v: FieldViolation[] = [];
        checkSize(f.frame.value, `${at}.resize`, v);
        if (v.length) throw invalid(v);
        break;
      }
      case "stdinEof":
      case "close":
        break;
      default:
        throw invalid({ field: at, message: `must be stdin, resize, stdinEof or close, got ${f.frame.case ?? "nothing"}` });
    }
  });
  if (bytes > MAX_INPUT_BYTES) throw invalid({ field, message: `at most ${MAX_INPUT_BYTES} bytes of input per call, got ${bytes}` });
}

/** Calls `onIdle` once nothing happened for `ms` (touch() marks activity); one timer, re-armed lazily. */
function idleTimer(ms: number, onIdle: () => void) {
  let last = Date.now();
  let t: NodeJS.Timeout | undefined;
  const arm = (delay: number) => {
    t = setTimeout(() => {
      const quiet = Date.now() - last;
      if (quiet >= ms) onIdle();
      else arm(ms - quiet);
    }, delay);
  };
  arm(ms);
  return { touch: () => void (last = Date.now()), stop: () => clearTimeout(t) };
}

/** "42s", "7m", "3h", "2d": how long ago, for people. */
function agoText(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

const humanSeconds = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Math.round(ms / 1000)}s`);

function sessionMessage(row: SessionRow): ConsoleSession {
  const t = (d: Date | null) => (d ? timestampFromDate(d) : undefined);
  return create(ConsoleSessionSchema, {
    sessionId: row.id,
    deviceName: row.device,
    actor: row.actor,
    createdAt: t(row.createdAt),
    attachedAt: t(row.attachedAt),
    endedAt: t(row.endedAt),
    metadata: fromJson(ConsoleSessionMetadataSchema, row.metadata, { ignoreUnknownFields: true }),
    close: row.close ? fromJson(ConsoleCloseSchema, row.close, { ignoreUnknownFields: true }) : undefined,
    recordingBytes: BigInt(row.recordingBytes),
    recordingTruncated: row.recordingTruncated,
  });
}

/** The user's end of an open session. */
export interface UserSession {
  /** The first message of the user's stream. */
  session: ConsoleSession;
  /** Output frames for the user, ending with the close frame (or an error when the relay failed). */
  output: AsyncIterable<ConsoleFrame>;
  /** Sends input frames towards the device. */
  input(frames: ConsoleFrame[]): Promise<void>;
  /** The user left (or sent garbage): ends the session; idempotent. */
  leave(reason: string, err?: unknown): Promise<void>;
}

/** The device's end of an attached session. */
export interface DeviceSession {
  metadata: ConsoleSessionMetadata;
  /** Input frames for the agent, ending with a close frame when the user left or a limit was reached. */
  input: AsyncIterable<ConsoleFrame>;
  /** Sends output frames (stdout, stderr, close) towards the user. */
  output(frames: ConsoleFrame[]): Promise<void>;
  /** The agent's stream ended: ends the session; idempotent. */
  leave(reason: string): Promise<void>;
}

export interface ConsoleDeps {
  db: Db;
  relay: ConsoleRelay;
  log: Logger;
  limits?: Partial<ConsoleLimits>;
}

export function createConsoleService(deps: ConsoleDeps) {
  const limits: ConsoleLimits = { ...DEFAULT_CONSOLE_LIMITS, ...deps.limits };
  const store = createConsoleStore(deps.db);
  const { relay, log } = deps;
  /** User ends held by this replica (SendConsoleInput arriving here goes straight to them). */
  const local = new Map<string, UserSession>();
  // Waiting sessions, asked by every rendered-device stream that opens (thousands at once after a restart).
  const pendingSessions = batchLoader((keys: readonly { orgId: string; device: string }[]) => store.pending(keys, limits.attachTimeoutMs));
  /** Rendered-device streams of this replica waiting for console announcements, by org/device. */
  const watchers = keyedListeners<(c: DeviceConsole) => void>();
  relay.onAnnounce((p) => {
    const c = create(DeviceConsoleSchema, { sessionId: p.sessionId, sessionMetadata: p.metadata });
    watchers.each(`${p.orgId}/${p.device}`, (l) => l(c));
  });

  // Retention: sessions and recordings past FLIGHTCTL_CONSOLE_RETENTION_DAYS go with the periodic event_cleanup job.

  async function checkDevice(orgId: string, name: string) {
    const d = await store.device(orgId, name);
    if (!d) throw notFound("Device", name);
    // flightctl's rules: no console on a device that is leaving or whose state the service does not trust yet.
    if (d.decommissioning) throw precondition(`device "${name}" is being decommissioned: consoles are refused`);
    if (d.annotations[ANNOTATION_AWAITING_RECONNECT] === "true")
      throw precondition(`device "${name}" is awaiting reconnection after a restore: consoles are refused until it reports`);
    if (d.annotations[ANNOTATION_CONFLICT_PAUSED] === "true")
      throw precondition(`device "${name}" is conflict-paused: resume it before opening a console`);
    // A console needs the agent's stream: refuse at once what would only wait out the attach timeout. A device whose
    // agent reported (its summary left Unknown) has connected even when its first lastSeen mark is not flushed yet.
    // Offline is the summary's rule (not heard from for 5 minutes): an agent restarting picks up a waiting session.
    if (!d.lastSeen && d.summary === "Unknown")
      throw precondition(
        `device "${name}" has never connected to the service (no last-seen time): a console needs its agent running and connected`,
      );
    if (d.lastSeen && Date.now() - d.lastSeen.getTime() > DISCONNECTED_AFTER_MS)
      throw precondition(
        `device "${name}" is offline: last seen ${d.lastSeen.toISOString()} (${agoText(Date.now() - d.lastSeen.getTime())} ago); ` +
          "a console needs its agent running and connected",
      );
  }

  async function openUser(caller: Caller, name: string, m: ConsoleSessionMetadata | undefined, signal: AbortSignal): Promise<UserSession> {
    if (!name) throw invalid({ field: "open.name", message: "is required" });
    const metadata = normalizeMetadata(m);
    await checkDevice(caller.orgId, name);
    await relay.check();
    const id = randomUUID();
    const metadataJson = toJson(ConsoleSessionMetadataSchema, metadata);
    const created = await store.create(
      { id, orgId: caller.orgId, device: name, actor: caller.identity.actor, metadata: metadataJson },
      limits.maxSessionsPerDevice,
      limits.maxDurationMs,
    );
    if (!created)
      throw busy(`device "${name}" already has ${limits.maxSessionsPerDevice} open console sessions (the limit); close one first`);
    const startedAt = new Date();
    await insertEvent(deps.db, caller.orgId, {
      reason: "DeviceConsoleOpened",
      type: "Normal",
      message: `Console session ${id} opened by ${caller.identity.actor}`,
      actor: caller.identity.actor,
      involvedObject: { kind: "Device", name },
      sourceComponent: "flightctl-api",
    });
    const dims = metadata.initialDimensions!;
    const command = metadata.command ? [metadata.command.command, ...metadata.command.args].join(" ") : undefined;
    const recorder = createRecorder(
      {
        width: dims.width,
        height: dims.height,
        startedAt,
        command,
        title: `${caller.identity.actor} on device ${name}`,
        term: metadata.term,
      },
      limits.recordingMaxBytes,
    );
    const output = createAsyncQueue<ConsoleFrame>();
    let finished: Promise<void> | undefined;

    const finish = (close: CloseInit, opts: { toDevice: boolean; err?: unknown }) =>
      (finished ??= (async () => {
        local.delete(id);
        clearTimeout(attachTimer);
        clearTimeout(maxTimer);
        idle.stop();
        stopRead();
        signal.removeEventListener("abort", onAbort);
        if (opts.toDevice) await relay.send(id, "in", [frameEntry(closeFrame(close))]).catch(() => {});
        const rec = recorder.finish();
        await store
          .end(id, toJson(ConsoleCloseSchema, create(ConsoleCloseSchema, close)), rec.text, rec.truncated)
          .catch((err) => log.error({ err, session: id }, "cannot store console recording"));
        relay.expire(id);
        if (opts.err !== undefined) output.end(opts.err);
        else {
          void output.push(closeFrame(close));
          output.end();
        }
      })());

    const attachTimer = setTimeout(
      () =>
        void finish(
          { reason: "device did not connect" },
          {
            toDevice: true,
            err: unavailable(
              `device "${name}" did not connect to the console within ${humanSeconds(limits.attachTimeoutMs)}; is its agent online?`,
            ),
          },
        ),
      limits.attachTimeoutMs,
    );
    const maxTimer = setTimeout(
      () => void finish({ reason: `session reached its ${humanSeconds(limits.maxDurationMs)} limit` }, { toDevice: true }),
      limits.maxDurationMs,
    );
    const idle = idleTimer(
      limits.idleTimeoutMs,
      () => void finish({ reason: `idle for ${humanSeconds(limits.idleTimeoutMs)}` }, { toDevice: true }),
    );
    const onAbort = () => void finish({ reason: "user left" }, { toDevice: true });
    signal.addEventListener("abort", onAbort, { once: true });

    const stopRead = relay.read(
      id,
      "out",
      async (entries) => {
        for (const e of entries) {
          if (finished) return;
          idle.touch();
          const f = decodeEntry(e);
          if (f === "attached") {
            clearTimeout(attachTimer);
            continue;
          }
          if (f.frame.case === "stdout" || f.frame.case === "stderr") recorder.output(f.frame.case, f.frame.value);
          if (f.frame.case === "close") return void finish(f.frame.value, { toDevice: false });
          await output.push(f);
        }
      },
      (err) => void finish({ reason: "console relay failed" }, { toDevice: true, err }),
    );
    const session: UserSession = {
      session: sessionMessage({
        id,
        orgId: caller.orgId,
        device: name,
        actor: caller.identity.actor,
        metadata: metadataJson,
        createdAt: startedAt,
        attachedAt: null,
        endedAt: null,
        close: null,
        recordingBytes: 0,
        recordingTruncated: false,
      }),
      output,
      async input(frames) {
        if (finished) throw precondition(`console session ${id} has ended`);
        checkInput(frames, "frame");
        idle.touch();
        const close = frames.find((f) => f.frame.case === "close");
        for (const f of frames) if (f.frame.case === "resize") recorder.resize(f.frame.value.width, f.frame.value.height);
        const before = close ? frames.slice(0, frames.indexOf(close)) : frames;
        if (before.length) await relay.send(id, "in", before.map(frameEntry));
        if (close?.frame.case === "close")
          await finish({ ...close.frame.value, reason: close.frame.value.reason || "user closed the session" }, { toDevice: true });
      },
      leave: (reason, err) => finish({ reason }, { toDevice: true, err }),
    };
    local.set(id, session);
    if (signal.aborted) onAbort();
    else
      await relay
        .announce({ orgId: caller.orgId, device: name, sessionId: id, metadata: toJsonString(ConsoleSessionMetadataSchema, metadata) })
        .catch(async (e) => {
          await session.leave("console relay failed");
          throw e;
        });
    return session;
  }

  async function attachDevice(caller: Caller, name: string, sessionId: string, signal: AbortSignal): Promise<DeviceSession> {
    if (!sessionId) throw invalid({ field: "attach.sessionID", message: "is required" });
    await relay.check();
    const row = await store.attach(caller.orgId, name, sessionId).catch(() => undefined);
    if (!row) throw notFound("console session", sessionId);
    const metadata = fromJson(ConsoleSessionMetadataSchema, row.metadata, { ignoreUnknownFields: true });
    const input = createAsyncQueue<ConsoleFrame>();
    let finished: Promise<void> | undefined;
    const finish = (close: CloseInit, opts: { toUser: boolean; toAgent: boolean; err?: unknown }) =>
      (finished ??= (async () => {
        clearTimeout(maxTimer);
        idle.stop();
        stopRead();
        signal.removeEventListener("abort", onAbort);
        if (opts.toUser) await relay.send(sessionId, "out", [frameEntry(closeFrame(close))]).catch(() => {});
        if (opts.toAgent) void input.push(closeFrame(close));
        input.end(opts.err);
      })());
    const maxTimer = setTimeout(
      () => void finish({ reason: `session reached its ${humanSeconds(limits.maxDurationMs)} limit` }, { toUser: true, toAgent: true }),
      Math.max(0, row.createdAt.getTime() + limits.maxDurationMs - Date.now()),
    );
    const idle = idleTimer(
      limits.idleTimeoutMs,
      () => void finish({ reason: `idle for ${humanSeconds(limits.idleTimeoutMs)}` }, { toUser: true, toAgent: true }),
    );
    const onAbort = () => void finish({ reason: "device disconnected" }, { toUser: true, toAgent: false });
    signal.addEventListener("abort", onAbort, { once: true });
    const stopRead = relay.read(
      sessionId,
      "in",
      async (entries) => {
        for (const e of entries) {
          if (finished) return;
          idle.touch();
          const f = decodeEntry(e);
          if (f === "attached") continue;
          if (f.frame.case === "close") return void finish(f.frame.value, { toUser: false, toAgent: true });
          await input.push(f);
        }
      },
      (err) => void finish({ reason: "console relay failed" }, { toUser: true, toAgent: false, err }),
    );
    await relay.send(sessionId, "out", [ATTACHED]).catch(async (e) => {
      await finish({ reason: "console relay failed" }, { toUser: false, toAgent: false });
      throw e;
    });
    if (signal.aborted) onAbort();
    return {
      metadata,
      input,
      async output(frames) {
        if (finished) return;
        idle.touch();
        const close = frames.find((f) => f.frame.case === "close");
        const before = close ? frames.slice(0, frames.indexOf(close)) : frames;
        if (before.length) await relay.send(sessionId, "out", before.map(frameEntry));
        if (close?.frame.case === "close") await finish(close.frame.value, { toUser: true, toAgent: false });
      },
      leave: (reason) => finish({ reason }, { toUser: true, toAgent: false }),
    };
  }

  return {
    limits,
    openUser,
    attachDevice,

    /** Input for a session by id: straight to its user end when this replica holds it, else through the relay. */
    async sendInput(caller: Caller, name: string, sessionId: string, frames: ConsoleFrame[]): Promise<void> {
      checkInput(frames, "frames");
      const row = sessionId ? await store.get(caller.orgId, name, sessionId).catch(() => undefined) : undefined;
      // Only the user who opened a session may type into it.
      if (!row || row.actor !== caller.identity.actor) throw notFound("console session", sessionId);
      if (row.endedAt) throw precondition(`console session ${sessionId} has ended`);
      const mine = local.get(sessionId);
      if (mine) return mine.input(frames);
      await relay.send(sessionId, "in", frames.map(frameEntry));
    },

    async list(caller: Caller, name: string): Promise<ConsoleSession[]> {
      if (!name) throw invalid({ field: "name", message: "is required" });
      // A device name like any by-name RPC's: a malformed one is refused, not answered with an empty list.
      const problem = subdomainProblem(name);
      if (problem) throw invalid({ field: "name", message: problem });
      return (await store.list(caller.orgId, name)).map(sessionMessage);
    },

    /** A recording, audited: every read is a ConsoleRecordingRead event naming the reader. */
    async recording(caller: Caller, name: string, sessionId: string): Promise<{ session: ConsoleSession; asciicast: string }> {
      if (!name) throw invalid({ field: "name", message: "is required" });
      if (!sessionId) throw invalid({ field: "sessionID", message: "is required" });
      const r = await store.recording(caller.orgId, name, sessionId).catch(() => undefined);
      if (!r) throw notFound("console session", sessionId);
      if (r.recording === null) throw precondition(`console session ${sessionId} is still open; its recording is kept when it ends`);
      await insertEvent(deps.db, caller.orgId, {
        reason: "ConsoleRecordingRead",
        type: "Normal",
        message: `Recording of console session ${sessionId} (opened by ${r.row.actor}) read by ${caller.identity.actor}`,
        actor: caller.identity.actor,
        involvedObject: { kind: "Device", name },
        sourceComponent: "flightctl-api",
      });
      return { session: sessionMessage(r.row), asciicast: r.recording };
    },

    /**
     * For rendered-device streams: called with each new session for the device (this replica's watchers only), and at
     * once with the sessions still waiting for it: a session opened while the device's stream was down (or on its way
     * to another replica) reaches the device when it connects again, instead of timing out.
     */
    subscribe(orgId: string, device: string, listener: (c: DeviceConsole) => void): () => void {
      const key = `${orgId}/${device}`;
      const remove = watchers.add(key, listener);
      pendingSessions.load({ orgId, device }).then(
        (rows) => {
          for (const r of rows) {
            if (watchers.has(key, listener))
              listener(create(DeviceConsoleSchema, { sessionId: r.id, sessionMetadata: JSON.stringify(r.metadata) }));
          }
        },
        (err) => log.warn({ err, device }, "cannot read pending console sessions"),
      );
      return remove;
    },

    close() {
      for (const s of local.values()) void s.leave("server shutting down");
    },
  };
}

export type ConsoleService = ReturnType<typeof createConsoleService>;
