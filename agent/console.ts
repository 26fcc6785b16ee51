// The agent's end of console sessions. Sessions arrive in spec.consoles on the rendered-device stream; for each new
// session id the agent opens an AgentConsoleService stream, runs the shell (or the requested command) in a real
// pseudo-terminal (node-pty) or on pipes (tty: false), and pipes frames both ways: output and finally the exit
// status up, input, resizes and close down. A close from the service (the user left, a time limit) ends the program.
import { spawn as spawnChild, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import type { IPty } from "node-pty";
import { OpenConsoleStreamRequestSchema, type OpenConsoleStreamRequest } from "../gen/flightctl/agent/v1beta1/console_service_pb.js";
import {
  ConsoleCloseSchema,
  ConsoleFrameSchema,
  type ConsoleFrame,
  type ConsoleSessionMetadata,
} from "../gen/flightctl/v1beta1/console_pb.js";
import type { DeviceConsole } from "../gen/flightctl/v1beta1/device_pb.js";
import { createAsyncQueue, type AsyncQueue } from "../lib/async-queue.js";
import type { AgentClients } from "./clients.js";

export interface ConsoleOptions {
  /** Whether this agent serves consoles (default true; the simulator's agents only when asked). */
  enabled?: boolean;
  /** Program run when a session names none (default $SHELL, else /bin/bash, else /bin/sh). */
  shell?: string;
}

/** A running program, with or without a terminal. */
interface Program {
  write(data: Uint8Array): void;
  resize(width: number, height: number): void;
  eof(): void;
  kill(): void;
}

const frame = (f: ConsoleFrame["frame"]): OpenConsoleStreamRequest =>
  create(OpenConsoleStreamRequestSchema, { message: { case: "frame", value: create(ConsoleFrameSchema, { frame: f }) } });

export function createConsoleManager(opts: {
  clients: () => AgentClients | undefined;
  deviceName: () => string;
  cwd: string;
  log: Logger;
  console?: ConsoleOptions;
}) {
  const enabled = opts.console?.enabled ?? true;
  const shell = opts.console?.shell ?? process.env.SHELL ?? (existsSync("/bin/bash") ? "/bin/bash" : "/bin/sh");
  const seen = new Set<string>();
  const running = new Map<string, AbortController>();
  const log = opts.log;

  /** Starts the program; its output and exit go to `out`. */
  async function start(m: ConsoleSessionMetadata, out: AsyncQueue<OpenConsoleStreamRequest>): Promise<Program> {
    const file = m.command?.command || shell;
    const args = m.command ? m.command.args : [];
    const env = { ...process.env, TERM: m.term || "xterm-256color" } as Record<string, string>;
    let exited = false;
    const exit = (code: number | null, signal: string) => {
      if (exited) return;
      exited = true;
      void out.push(frame({ case: "close", value: create(ConsoleCloseSchema, code === null ? { signal } : { exitCode: code, signal }) }));
      out.end();
    };
    if (m.tty) {
      const { spawn } = await import("node-pty");
      // encoding null: output as raw bytes (no UTF-8 decoding), so it arrives byte-exact.
      const pty: IPty = spawn(file, args, {
        name: env.TERM,
        cols: m.initialDimensions?.width || 80,
        rows: m.initialDimensions?.height || 24,
        cwd: opts.cwd,
        env,
        encoding: null,
      });
      pty.onData((d) => {
        const pending = out.push(frame({ case: "stdout", value: d as unknown as Buffer }));
        // Backpressure: a slow relay pauses the terminal (and so the program) instead of growing memory.
        if (out.length >= 64) {
          pty.pause();
          void pending.then(() => pty.resume());
        }
      });
      pty.onExit(({ exitCode, signal }) => exit(signal ? null : exitCode, signal ? signalName(signal) : ""));
      return {
        write: (d) => pty.write(Buffer.from(d)),
        resize: (w, h) => pty.resize(w, h),
        eof: () => pty.write("\x04"),
        kill: () => {
          if (!exited) pty.kill("SIGHUP");
        },
      };
    }
    const child: ChildProcess = spawnChild(file, args, { cwd: opts.cwd, env, stdio: ["pipe", "pipe", "pipe"] });
    const pipe = (stream: NodeJS.ReadableStream, kind: "stdout" | "stderr") =>
      stream.on("data", (d: Buffer) => {
        const pending = out.push(frame({ case: kind, value: d }));
        if (out.length >= 64) {
          stream.pause();
          void pending.then(() => stream.resume());
        }
      });
    pipe(child.stdout!, "stdout");
    pipe(child.stderr!, "stderr");
    child.stdin!.on("error", () => {}); // the program may exit without reading its input
    child.on("error", (err) => {
      void out.push(frame({ case: "stderr", value: Buffer.from(`${err.message}\n`) }));
      exit(127, "");
    });
    // 'close' comes after the program exited and its output was read to the end.
    child.on("close", (code, signal) => exit(code, signal ?? ""));
    return {
      write: (d) => void child.stdin!.write(d),
      resize: () => {},
      eof: () => void child.stdin!.end(),
      kill: () => {
        if (exited) return;
        child.kill("SIGHUP");
        setTimeout(() => exited || child.kill("SIGKILL"), 2000).unref();
      },
    };
  }

  async function run(c: DeviceConsole, clients: AgentClients) {
    const id = c.sessionId ?? "";
    const ctl = new AbortController();
    running.set(id, ctl);
    const out = createAsyncQueue<OpenConsoleStreamRequest>(128);
    void out.push(
      create(OpenConsoleStreamRequestSchema, { message: { case: "attach", value: { name: opts.deviceName(), sessionId: id } } }),
    );
    let program: Program | undefined;
    try {
      for await (const r of clients.console.openConsoleStream(out, { signal: ctl.signal })) {
        if (r.message.case === "metadata" && !enabled) {
          // Say so at once rather than let the user wait for a device that will never start anything.
          void out.push(frame({ case: "close", value: create(ConsoleCloseSchema, { reason: "consoles are disabled on this device" }) }));
          out.end();
          continue;
        }
        if (r.message.case === "metadata") {
          program = await start(r.message.value, out).catch((err: Error) => {
            void out.push(frame({ case: "stderr", value: Buffer.from(`cannot start the console program: ${err.message}\r\n`) }));
            void out.push(frame({ case: "close", value: create(ConsoleCloseSchema, { exitCode: 127, reason: err.message }) }));
            out.end();
            return undefined;
          });
          continue;
        }
        if (r.message.case !== "frame") continue;
        const f = r.message.value.frame;
        if (f.case === "stdin") program?.write(f.value);
        else if (f.case === "resize") program?.resize(f.value.width, f.value.height);
        else if (f.case === "stdinEof") program?.eof();
        else if (f.case === "close") program?.kill();
      }
    } catch (e) {
      log.debug({ err: (e as Error).message, session: id }, "console stream ended");
    } finally {
      // However the stream ended, the program does not outlive its session.
      program?.kill();
      out.end();
      running.delete(id);
    }
  }

  return {
    /** Starts the sessions in `consoles` not seen before. */
    handle(consoles: DeviceConsole[]) {
      const clients = opts.clients();
      if (!clients) return;
      for (const c of consoles) {
        if (!c.sessionId || seen.has(c.sessionId)) continue;
        seen.add(c.sessionId);
        if (seen.size > 1000) seen.delete(seen.values().next().value!);
        void run(c, clients);
      }
    },
    /** Ends every session (the agent stops). */
    stopAll() {
      for (const ctl of running.values()) ctl.abort();
    },
  };
}

/** node-pty reports signals by number. */
function signalName(n: number): string {
  const names: Record<number, string> = {
    1: "SIGHUP",
    2: "SIGINT",
    3: "SIGQUIT",
    6: "SIGABRT",
    9: "SIGKILL",
    13: "SIGPIPE",
    15: "SIGTERM",
  };
  return names[n] ?? `signal ${n}`;
}
