// The agent's HTTP/2 connection to the service: at most one connection in use, every connection it opened tracked
// until it is gone. Connect's own session manager (Http2SessionManager) loses track of connections under load: a
// connection attempt replaced while still connecting never settles and stays open without listeners, and a check
// ("verify") pending on a connection that closes without an error never ends, so later calls hang. With 10,000
// simulated agents on a loaded host that left 1.5-2 connections per agent, up to the file descriptor limit. The agent
// needs little: one connection, a new one when it dies, PINGs to find a dead one. Connect's transport takes any
// subclass of its manager; every public method is replaced here.
import http2 from "node:http2";
import tls from "node:tls";
import { Code, ConnectError } from "@connectrpc/connect";
import { Http2SessionManager } from "@connectrpc/connect-node";
import type { ConnectSlots } from "./connect-slots.js";
import { cachedLookup } from "./dns-cache.js";
import { connectTls } from "./tls-connect.js";

export interface AgentSessionOptions {
  /** PING the connection this often while it carries streams (default 45 s). */
  pingIntervalMs?: number;
  /** A PING unanswered this long ends the connection (default 30 s; generous: a busy host answers late, not never). */
  pingTimeoutMs?: number;
  /** A connection attempt (TCP + TLS) not done in this long is given up (default 60 s). */
  connectTimeoutMs?: number;
  /** A connection without streams for this long is closed (default 15 min). */
  idleTimeoutMs?: number;
  /** Connection attempts wait for a slot here (a simulator's agents share one); the connect timeout starts after. */
  slots?: ConnectSlots;
}

type State = "closed" | "connecting" | "open" | "idle" | "error";

export class AgentSessionManager extends Http2SessionManager {
  private readonly opts: Required<Omit<AgentSessionOptions, "slots">>;
  private readonly slots?: ConnectSlots;
  private readonly tls: http2.SecureClientSessionOptions;
  /** The TLS context (CA, certificate, key parsed once), made at the first attempt and kept for reconnections. */
  private context?: tls.SecureContext;
  /** The connection new calls use, once connected. */
  private current?: http2.ClientHttp2Session;
  /** The attempt in progress, shared by every call that waits for it. */
  private pending?: Promise<http2.ClientHttp2Session>;
  /** Every connection opened and not yet closed: the one in use, one connecting, and old ones finishing streams. */
  private readonly live = new Set<http2.ClientHttp2Session>();
  private lastError: unknown;
  private aborted = false;

  constructor(url: string | URL, options: AgentSessionOptions, tls: http2.SecureClientSessionOptions) {
    super(url);
    const { slots, ...rest } = options;
    this.opts = { pingIntervalMs: 45_000, pingTimeoutMs: 30_000, connectTimeoutMs: 60_000, idleTimeoutMs: 15 * 60_000, ...rest };
    this.slots = slots;
    this.tls = tls;
  }

  /** Open connections (the one in use, one connecting, old ones finishing their streams): 1 normally. */
  connections(): number {
    return this.live.size;
  }

  override state(): State {
    if (this.current) return streamsOf(this.current) > 0 ? "open" : "idle";
    if (this.pending) return "connecting";
    return this.lastError ? "error" : "closed";
  }

  override error(): unknown {
    return this.current ? undefined : this.lastError;
  }

  override async connect(): Promise<"open" | "idle" | "error"> {
    try {
      const s = await this.session();
      return streamsOf(s) > 0 ? "open" : "idle";
    } catch {
      return "error";
    }
  }

  override async request(
    method: string,
    path: string,
    headers: http2.OutgoingHttpHeaders,
    options: Omit<http2.ClientSessionRequestOptions, "signal">,
  ) {
    // A connection can end between being handed out and the request on it: then take the next one, once.
    for (let attempt = 0; ; attempt++) {
      const s = await this.session();
      try {
        const stream = s.request({ ...headers, ":method": method, ":path": path }, options);
        track(s, stream, this.opts.idleTimeoutMs, () => this.retire(s));
        return stream;
      } catch (e) {
        if ((s.closed || s.destroyed) && attempt === 0) {
          this.retire(s);
          continue;
        }
        throw e;
      }
    }
  }

  override notifyResponseByteRead(): void {
    // Liveness comes from PINGs only: nothing to note per read.
  }

  override abort(reason?: Error): void {
    this.aborted = true;
    const err = reason ?? new ConnectError("connection aborted", Code.Canceled);
    this.current = undefined;
    this.pending = undefined;
    for (const s of this.live) if (!s.destroyed) s.destroy(err, http2.constants.NGHTTP2_CANCEL);
    this.live.clear();
  }

  /** The connection in use, connecting one if there is none. */
  private session(): Promise<http2.ClientHttp2Session> {
    if (this.aborted) return Promise.reject(new ConnectError("connection aborted", Code.Canceled));
    if (this.current && !this.current.closed && !this.current.destroyed) return Promise.resolve(this.current);
    this.current = undefined;
    this.pending ??= this.openInSlot().finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async openInSlot(): Promise<http2.ClientHttp2Session> {
    if (!this.slots) return this.open();
    const release = await this.slots.acquire();
    try {
      if (this.aborted) throw new ConnectError("connection aborted", Code.Canceled);
      return await this.open();
    } finally {
      release();
    }
  }

  private open(): Promise<http2.ClientHttp2Session> {
    return new Promise((resolve, reject) => {
      // A context that cannot be made (a damaged key or certificate) fails this attempt, as a failed handshake does.
      this.context ??= tls.createSecureContext(this.tls);
      const tlsOptions = { lookup: cachedLookup, ...this.tls, secureContext: this.context };
      const s = http2.connect(this.authority, { createConnection: (url: URL) => connectTls(url, tlsOptions) });
      this.live.add(s);
      // Listeners for the connection's whole life: nothing it does goes unheard, and its end is always noticed.
      s.on("error", (e) => (this.lastError = e));
      s.on("close", () => {
        this.live.delete(s);
        if (this.current === s) this.current = undefined;
        settle(new ConnectError(`connection to ${this.authority} closed while connecting`, Code.Unavailable));
      });
      // The server going away: new calls take a new connection, streams on this one finish first.
      s.on("goaway", () => this.retire(s));
      s.on("error", (e) => settle(e));
      s.once("connect", () => settle());
      const timer = setTimeout(
        () => settle(new ConnectError(`connecting to ${this.authority} took over ${this.opts.connectTimeoutMs} ms`, Code.Unavailable)),
        this.opts.connectTimeoutMs,
      );
      let settled = false;
      const settle = (err?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!err && this.aborted) err = new ConnectError("connection aborted", Code.Canceled);
        if (err) {
          if (!s.destroyed) s.destroy();
          this.lastError = ConnectError.from(err, Code.Unavailable);
          reject(this.lastError);
          return;
        }
        this.current = s;
        this.lastError = undefined;
        keepAlive(s, this.opts);
        idleUntilUsed(s, this.opts.idleTimeoutMs, () => this.retire(s));
        resolve(s);
      };
    });
  }

  /** Takes a connection out of use: closed now if idle, else once its last stream ends. */
  private retire(s: http2.ClientHttp2Session) {
    if (this.current === s) this.current = undefined;
    if (!s.closed && !s.destroyed) s.close();
  }
}

const streams = new WeakMap<http2.ClientHttp2Session, { n: number; idle?: NodeJS.Timeout }>();
const streamsOf = (s: http2.ClientHttp2Session) => streams.get(s)?.n ?? 0;

/** An idle connection does not keep the process alive, and is closed after `ms` without streams. */
function idleUntilUsed(s: http2.ClientHttp2Session, ms: number, retire: () => void) {
  const st = streams.get(s) ?? { n: 0 };
  streams.set(s, st);
  s.unref();
  clearTimeout(st.idle);
  st.idle = setTimeout(retire, ms).unref();
}

function track(s: http2.ClientHttp2Session, stream: http2.ClientHttp2Stream, idleMs: number, retire: () => void) {
  const st = streams.get(s) ?? { n: 0 };
  streams.set(s, st);
  if (st.n++ === 0) {
    clearTimeout(st.idle);
    s.ref();
  }
  stream.once("close", () => {
    if (--st.n === 0 && !s.closed && !s.destroyed) idleUntilUsed(s, idleMs, retire);
  });
}

/**
 * PINGs while the connection carries streams; one unanswered for pingTimeoutMs ends the connection. An interval in
 * which bytes arrived needs no PING: the peer is alive (the rendered-device stream's heartbeats do this every 30–60 s),
 * and at 10,000 agents the skipped PINGs are a third of an idle server's writes.
 */
function keepAlive(s: http2.ClientHttp2Session, opts: { pingIntervalMs: number; pingTimeoutMs: number }) {
  let lastRead = -1;
  const interval = setInterval(() => {
    if (streamsOf(s) === 0) return;
    const read = s.socket?.bytesRead ?? -1;
    if (read !== lastRead && read >= 0) {
      lastRead = read;
      return;
    }
    let answered = false;
    // On a host whose event loop lags, this timer and the PING's answer can come due in the same turn, timers first:
    // the check waits for that turn's I/O (setImmediate) so a late answer still counts.
    const timeout = setTimeout(
      () => setImmediate(() => answered || s.destroy(new ConnectError("PING timed out", Code.Unavailable), http2.constants.NGHTTP2_CANCEL)),
      opts.pingTimeoutMs,
    ).unref();
    const done = () => {
      answered = true;
      clearTimeout(timeout);
      lastRead = s.socket?.bytesRead ?? -1; // the answer itself is not news from the peer's streams
    };
    try {
      s.ping(done);
    } catch {
      done(); // the connection is closing: its close does the rest
    }
  }, opts.pingIntervalMs).unref();
  s.once("close", () => clearInterval(interval));
}
