// A device console in xterm.js: StreamDeviceConsole carries the output (its first message names the session) and
// SendConsoleInput the keystrokes and resizes, batched per animation frame (browsers cannot send on a stream).
import { useEffect, useRef, useState } from "preact/hooks";
import { Code, ConnectError } from "@connectrpc/connect";
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import "@xterm/xterm/css/xterm.css";
import { ConsoleService } from "../../../gen/flightctl/v1beta1/console_service_pb.js";
import type { ConsoleFrame } from "../../../gen/flightctl/v1beta1/console_pb.js";
import { client, errorText } from "../api.js";
import { ErrorBox, Page, useApp } from "../common.js";
import { Link } from "../router.js";

type FrameInit = ConsoleFrame["frame"];

export function ConsolePage({ name }: { name: string }) {
  const { orgId } = useApp();
  const box = useRef<HTMLDivElement>(null);
  const [state, setState] = useState("Connecting…");
  const [error, setError] = useState<string>();
  const [run, setRun] = useState(0);
  // Refused by the service (the device cannot take a console): no terminal to show.
  const [refused, setRefused] = useState(false);

  useEffect(() => {
    setState("Connecting…");
    setError(undefined);
    setRefused(false);
    const term = new Terminal({ cursorBlink: true, fontSize: 14, screenReaderMode: true, theme: { background: "#111418" } });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(box.current!);
    fit.fit();
    term.focus();
    const abort = new AbortController();
    let sessionId = "";
    const queue: FrameInit[] = [];
    let flushing = false;
    const flush = async () => {
      if (flushing || !sessionId || !queue.length) return;
      flushing = true;
      const frames = queue.splice(0, 256);
      try {
        await client(ConsoleService).sendConsoleInput({ orgId, name, sessionId, frames: frames.map((frame) => ({ frame })) });
      } catch (e) {
        setError(errorText(e));
      } finally {
        flushing = false;
        if (queue.length) void flush();
      }
    };
    const send = (f: FrameInit) => {
      queue.push(f);
      requestAnimationFrame(() => void flush());
    };
    const enc = new TextEncoder();
    const onData = term.onData((d) => send({ case: "stdin", value: enc.encode(d) }));
    const onResize = term.onResize(({ cols, rows }) =>
      send({ case: "resize", value: { $typeName: "flightctl.v1beta1.ConsoleSize", width: cols, height: rows } }),
    );
    const resize = () => fit.fit();
    addEventListener("resize", resize);
    (async () => {
      const stream = client(ConsoleService).streamDeviceConsole(
        {
          open: {
            name,
            orgId,
            metadata: { term: "xterm-256color", tty: true, initialDimensions: { width: term.cols, height: term.rows } },
          },
        },
        { signal: abort.signal },
      );
      for await (const msg of stream) {
        if (msg.message.case === "session") {
          sessionId = msg.message.value.sessionId;
          setState("Connected");
          void flush();
        } else if (msg.message.case === "frame") {
          const f = msg.message.value.frame;
          if (f.case === "stdout" || f.case === "stderr") term.write(f.value);
          else if (f.case === "close") {
            const c = f.value;
            setState(`Session ended${c.exitCode !== undefined ? ` (exit code ${c.exitCode})` : ""}${c.reason ? `: ${c.reason}` : ""}`);
          }
        }
      }
    })().catch((e) => {
      if (abort.signal.aborted) return;
      // The service refuses a console to a device that cannot take one (offline, never connected, paused,
      // decommissioning) and says why: that message is the whole story, not a dropped connection.
      const refused = ConnectError.from(e).code === Code.FailedPrecondition;
      setError(errorText(e));
      setRefused(refused);
      setState(refused ? "Cannot connect to the device" : sessionId ? "Disconnected" : "Could not connect");
    });
    return () => {
      if (sessionId)
        void client(ConsoleService)
          .sendConsoleInput({
            orgId,
            name,
            sessionId,
            frames: [{ frame: { case: "close", value: { $typeName: "flightctl.v1beta1.ConsoleClose", signal: "", reason: "user left" } } }],
          })
          .catch(() => {});
      abort.abort();
      onData.dispose();
      onResize.dispose();
      removeEventListener("resize", resize);
      term.dispose();
    };
  }, [name, orgId, run]);

  return (
    <Page
      title={`Console ${name}`}
      actions={
        <>
          <button type="button" onClick={() => setRun((r) => r + 1)}>
            Reconnect
          </button>
          <Link href={`/devices/${name}`} class="button secondary">
            Back to device
          </Link>
        </>
      }
    >
      <p class="muted" aria-live="polite" id="console-state">
        {state}
      </p>
      <ErrorBox error={error} />
      <div class="terminal" hidden={refused} ref={box} role="application" aria-label={`Terminal on ${name}`} />
    </Page>
  );
}
