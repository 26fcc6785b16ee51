// Session recordings in asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): a JSON header line, then one
// `[seconds, code, data]` line per event. Output is decoded as UTF-8 across chunk boundaries (a character split
// between two frames is written whole), so concatenating the "o" events gives back what the terminal was shown;
// bytes that are not UTF-8 become U+FFFD, as asciicast stores text. Input is not recorded (it holds passwords).
import { StringDecoder } from "node:string_decoder";

export interface RecordingHeader {
  width: number;
  height: number;
  /** Session start. */
  startedAt: Date;
  command?: string;
  /** Who and where, e.g. "user:alice on device abc". */
  title: string;
  term: string;
}

export function createRecorder(header: RecordingHeader, maxBytes: number) {
  const start = header.startedAt.getTime();
  const lines: string[] = [
    JSON.stringify({
      version: 2,
      width: header.width,
      height: header.height,
      timestamp: Math.floor(start / 1000),
      ...(header.command ? { command: header.command } : {}),
      title: header.title,
      env: { TERM: header.term },
    }),
  ];
  let bytes = lines[0].length + 1;
  let truncated = false;
  const decoders = { stdout: new StringDecoder("utf8"), stderr: new StringDecoder("utf8") };
  const event = (code: string, data: string) => {
    if (truncated || data === "") return;
    const line = JSON.stringify([Math.max(0, Date.now() - start) / 1000, code, data]);
    const n = Buffer.byteLength(line) + 1;
    if (bytes + n > maxBytes) {
      truncated = true;
      return;
    }
    bytes += n;
    lines.push(line);
  };
  return {
    output(stream: "stdout" | "stderr", chunk: Uint8Array) {
      event("o", decoders[stream].write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
    },
    resize(width: number, height: number) {
      event("r", `${width}x${height}`);
    },
    /** The recording so far, with any incomplete character flushed. */
    finish(): { text: string; truncated: boolean } {
      event("o", decoders.stdout.end());
      event("o", decoders.stderr.end());
      return { text: `${lines.join("\n")}\n`, truncated };
    },
  };
}

/** The output of a recording, concatenated (what a player shows). */
export function replayOutput(asciicast: string): string {
  return asciicast
    .split("\n")
    .slice(1)
    .filter(Boolean)
    .map((l) => JSON.parse(l) as [number, string, string])
    .filter((e) => e[1] === "o")
    .map((e) => e[2])
    .join("");
}
