// Status reports on one long-lived StreamDeviceStatus stream instead of one ReplaceDeviceStatus call each: a unary
// call costs both sides an HTTP/2 stream (headers, trailers) and Connect's per-call objects, most of a report's CPU
// in a fleet rollout. The stream is opened at the first report on the agent's connection, opened again after it
// ends, and given up for the unary call while the server does not know it (Unimplemented: an older server).
// One report at a time (the agent's report() already sends one at a time): each waits for its acknowledgement.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type CallOptions } from "@connectrpc/connect";
import type {
  ReplaceDeviceStatusRequestSchema,
  StreamDeviceStatusRequestSchema,
  StreamDeviceStatusResponse,
} from "../gen/flightctl/agent/v1beta1/device_service_pb.js";

type Report = MessageInitShape<typeof StreamDeviceStatusRequestSchema> & MessageInitShape<typeof ReplaceDeviceStatusRequestSchema>;

/** The two RPCs a report can take (the agent's Connect client of AgentDeviceService). */
export interface StatusClient {
  streamDeviceStatus(
    reports: AsyncIterable<MessageInitShape<typeof StreamDeviceStatusRequestSchema>>,
    options?: CallOptions,
  ): AsyncIterable<StreamDeviceStatusResponse>;
  replaceDeviceStatus(report: MessageInitShape<typeof ReplaceDeviceStatusRequestSchema>, options?: CallOptions): Promise<unknown>;
}

export interface StatusSender {
  /** Resolves once the service stored `report`; rejects when it did not (the caller retries later). */
  send(report: Report, timeoutMs: number): Promise<void>;
  /** Ends the open stream, if any. */
  close(): void;
}

/** After an Unimplemented answer the unary call is used this long, then the stream is tried again (a server upgraded). */
const UNARY_FOR_MS = 15 * 60_000;

interface OpenStream {
  /** Set once the response side ended (cleanly or not): the next report needs a new stream. */
  ended: boolean;
  /** Hands a report to the transport. */
  push(report: Report): void;
  /** The next acknowledgement (or the stream's end). */
  ack(): Promise<IteratorResult<StreamDeviceStatusResponse>>;
  abort(reason: Error): void;
}

function openStream(client: StatusClient): OpenStream {
  const ctl = new AbortController();
  let waiting: Report | undefined;
  let give: ((r: IteratorResult<Report>) => void) | undefined;
  let inputDone = false;
  // The request side: reports as they are pushed, until the stream is given up.
  const input: AsyncIterable<Report> = {
    [Symbol.asyncIterator]: () => ({
      next: () =>
        new Promise<IteratorResult<Report>>((resolve) => {
          if (inputDone) resolve({ done: true, value: undefined });
          else if (waiting) {
            resolve({ done: false, value: waiting });
            waiting = undefined;
          } else give = resolve;
        }),
      // Connect ends the request side with return() or, when the call failed, throw().
      return: async () => ((inputDone = true), { done: true, value: undefined }),
      throw: async () => ((inputDone = true), { done: true, value: undefined }),
    }),
  };
  const responses = client.streamDeviceStatus(input, { signal: ctl.signal })[Symbol.asyncIterator]();
  // One read is always pending, so an end while idle (a draining server, a lost connection) is seen before the next
  // report, which then takes a new stream instead of failing on this one.
  let pending: Promise<IteratorResult<StreamDeviceStatusResponse>>;
  const s: OpenStream = {
    ended: false,
    push(report) {
      if (give) {
        const g = give;
        give = undefined;
        g({ done: false, value: report });
      } else waiting = report;
    },
    ack() {
      const p = pending;
      read();
      return p;
    },
    abort(reason) {
      s.ended = true;
      inputDone = true;
      give?.({ done: true, value: undefined });
      give = undefined;
      ctl.abort(reason);
    },
  };
  const read = () => {
    if (s.ended) return;
    pending = responses.next();
    pending.then(
      (r) => {
        if (r.done) s.abort(new ConnectError("status stream ended", Code.Canceled));
      },
      () => s.abort(new ConnectError("status stream failed", Code.Canceled)),
    );
  };
  read();
  return s;
}

export function createStatusSender(client: StatusClient, now: () => number = Date.now): StatusSender {
  let stream: OpenStream | undefined;
  let unaryUntil = 0;

  async function unary(report: Report, timeoutMs: number) {
    await client.replaceDeviceStatus(report, { timeoutMs });
  }

  return {
    async send(report, timeoutMs) {
      if (now() < unaryUntil) return unary(report, timeoutMs);
      // A stream that ended before this report took it is replaced once; one that ends while holding it fails it.
      for (let attempt = 0; ; attempt++) {
        if (stream?.ended) stream = undefined;
        const s = (stream ??= openStream(client));
        const ack = s.ack();
        s.push(report);
        const timer = setTimeout(
          () => s.abort(new ConnectError(`status report not acknowledged within ${timeoutMs} ms`, Code.DeadlineExceeded)),
          timeoutMs,
        );
        let result: IteratorResult<StreamDeviceStatusResponse>;
        try {
          result = await ack;
        } catch (e) {
          s.abort(new ConnectError("status stream failed", Code.Canceled));
          const err = ConnectError.from(e);
          if (err.code !== Code.Unimplemented) throw err;
          unaryUntil = now() + UNARY_FOR_MS;
          return unary(report, timeoutMs);
        } finally {
          clearTimeout(timer);
        }
        if (!result.done) return;
        // Ended cleanly without acknowledging (a draining server): this report was not stored.
        if (attempt > 0) throw new ConnectError("the status stream ended without acknowledging the report", Code.Unavailable);
      }
    },
    close() {
      stream?.abort(new ConnectError("status stream closed", Code.Canceled));
      stream = undefined;
    },
  };
}
