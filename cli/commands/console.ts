// flightctl console: a shell (or one command) on a device, relayed by the service through the device's own
// connection (ConsoleService.OpenDeviceConsole). Interactive use puts the local terminal in raw mode (Ctrl-C goes to
// the device) and restores it however the command ends; with `-- command` and no terminal it prints the command's
// output and exits with its exit code.
import { defineCommand } from "citty";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { create } from "@bufbuild/protobuf";
import {
  ConsoleService,
  OpenDeviceConsoleRequestSchema,
  type OpenDeviceConsoleRequest,
} from "../../gen/flightctl/v1beta1/console_service_pb.js";
import { ConsoleFrameSchema, type ConsoleClose, type ConsoleFrame } from "../../gen/flightctl/v1beta1/console_pb.js";
import { createAsyncQueue } from "../../lib/async-queue.js";
import { globalArgs } from "../config.js";
import { ResourceError, UsageError } from "../errors.js";
import { lookupKind, parseTargets } from "../kinds.js";
import { caOf, session } from "../transport.js";

const frame = (f: ConsoleFrame["frame"]) => create(ConsoleFrameSchema, { frame: f });

/** The exit code a close frame stands for (a shell's convention for signals). */
function exitCode(c: ConsoleClose | undefined): number {
  if (c?.exitCode !== undefined) return c.exitCode;
  const signals: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  if (c?.signal) return 128 + (signals[c.signal] ?? 0);
  return 255;
}

export default defineCommand({
  meta: {
    name: "console",
    description:
      "Open a shell on a device, or run one command there.\n\n  flightctl console device/my-device\n  flightctl console device/my-device -- uname -a\n\nInteractive sessions are recorded (flightctl get: ConsoleService.GetConsoleRecording).",
  },
  args: {
    ...globalArgs,
    device: { type: "positional", required: true, description: "device/NAME" },
    tty: {
      type: "boolean",
      alias: "t",
      description: "Run in a terminal on the device (default: when this one is a terminal and no command is given)",
    },
  },
  async run({ args, rawArgs }) {
    const dash = rawArgs.indexOf("--");
    const command = dash >= 0 ? rawArgs.slice(dash + 1) : [];
    const target = String(args.device ?? "");
    const { kind, names } = parseTargets(target ? [target] : []);
    if (kind !== lookupKind("device") || names.length !== 1) throw new UsageError("console needs one device: device/<name>");
    const name = names[0];
    const interactive = !!process.stdin.isTTY && !!process.stdout.isTTY;
    const tty = args.tty ?? (interactive && command.length === 0);
    const s = await session(args);
    // Bidirectional streams need HTTP/2 (the CLI's other verbs use HTTP/1.1 for a faster start).
    const auth: Interceptor = (next) => (req) => {
      const t = s.cfg.authentication?.token ?? s.cfg.authentication?.["auth-provider"]?.config["access-token"];
      if (t) req.header.set("authorization", `Bearer ${t}`);
      return next(req);
    };
    const transport = createConnectTransport({
      baseUrl: s.cfg.service.server,
      httpVersion: "2",
      nodeOptions: { ca: caOf(s.cfg), rejectUnauthorized: !s.cfg.service.insecureSkipVerify },
      interceptors: [auth],
    });
    const input = createAsyncQueue<OpenDeviceConsoleRequest>();
    const send = (f: ConsoleFrame) => void input.push(create(OpenDeviceConsoleRequestSchema, { message: { case: "frame", value: f } }));
    void input.push(
      create(OpenDeviceConsoleRequestSchema, {
        message: {
          case: "open",
          value: {
            name,
            orgId: s.org,
            metadata: {
              tty,
              term: process.env.TERM || "xterm-256color",
              initialDimensions: { width: process.stdout.columns || 80, height: process.stdout.rows || 24 },
              command: command.length ? { command: command[0], args: command.slice(1) } : undefined,
            },
          },
        },
      }),
    );
    const raw = tty && !!process.stdin.isTTY;
    const restore = () => {
      if (raw && process.stdin.isTTY) process.stdin.setRawMode(false);
    };
    // The terminal comes back whatever happens: normal end, an error, a signal.
    process.once("exit", restore);
    const onSignal = () => send(frame({ case: "close", value: { reason: "user interrupted" } as ConsoleClose }));
    if (!raw) process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    if (raw) process.stdin.setRawMode(true);
    process.stdin.on("data", (d: Buffer) => send(frame({ case: "stdin", value: d })));
    process.stdin.on("end", () => send(frame({ case: "stdinEof", value: true })));
    const onResize = () => send(frame({ case: "resize", value: { width: process.stdout.columns, height: process.stdout.rows } as never }));
    process.stdout.on("resize", onResize);
    let close: ConsoleClose | undefined;
    try {
      for await (const r of createClient(ConsoleService, transport).openDeviceConsole(input)) {
        if (r.message.case !== "frame") continue;
        const f = r.message.value.frame;
        if (f.case === "stdout") process.stdout.write(f.value);
        else if (f.case === "stderr") process.stderr.write(f.value);
        else if (f.case === "close") close = f.value;
      }
    } catch (e) {
      // The service refuses at once a device that is not connected, saying when it was last seen: that message, as is.
      if (e instanceof ConnectError && e.code === Code.FailedPrecondition)
        throw new UsageError(`device/${name}: cannot open a console: ${e.rawMessage}`);
      throw new ResourceError(`device/${name}`, e);
    } finally {
      restore();
      process.stdin.pause();
      process.stdin.removeAllListeners("data");
      process.stdout.off("resize", onResize);
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      input.end();
    }
    if (close?.reason && close.exitCode === undefined) process.stderr.write(`\r\nconsole closed: ${close.reason}\n`);
    process.exitCode = exitCode(close);
  },
});
