// Live updates: a Watch<X> server stream when the API has one (ADDED/MODIFIED/DELETED after SYNCED), else polling.
// The stream is resumed from the last resourceVersion after a drop; "too old" starts over.
import type { DescService } from "@bufbuild/protobuf";
import { client } from "./api.js";

export interface WatchEvent<T> {
  type: string;
  object?: T;
  resourceVersion?: string;
}

export interface LiveOptions<T> {
  service: DescService;
  /** The watch method's local name, e.g. "watchDevices". */
  method: string;
  request: { orgId: string; labelSelector?: string; fieldSelector?: string };
  onEvent(ev: WatchEvent<T>): void;
  /** Fallback when the service has no such method (or the stream keeps failing): called every pollMs. */
  poll(): void;
  pollMs?: number;
}

/** Starts watching; returns the stop function. */
export function live<T>(o: LiveOptions<T>): () => void {
  const abort = new AbortController();
  let timer: ReturnType<typeof setInterval> | undefined;
  const startPolling = () => (timer ??= setInterval(o.poll, o.pollMs ?? 5000));
  const hasWatch = (o.service.method as Record<string, unknown>)[o.method] !== undefined;
  if (!hasWatch) startPolling();
  else
    void (async () => {
      let resourceVersion = "";
      let failures = 0;
      while (!abort.signal.aborted) {
        try {
          // biome-ignore lint/suspicious/noExplicitAny: the method is looked up by name
          const stream = (client(o.service) as any)[o.method]({ ...o.request, resourceVersion }, { signal: abort.signal }) as AsyncIterable<
            WatchEvent<T>
          >;
          for await (const ev of stream) {
            failures = 0;
            if (ev.resourceVersion) resourceVersion = ev.resourceVersion;
            if (ev.type !== "BOOKMARK") o.onEvent(ev);
          }
        } catch (e) {
          if (abort.signal.aborted) return;
          if (String((e as Error).message).includes("too old")) resourceVersion = "";
          if (++failures >= 3) {
            startPolling();
            return;
          }
        }
        await new Promise((r) => setTimeout(r, 1000 * failures));
      }
    })();
  return () => {
    abort.abort();
    if (timer) clearInterval(timer);
  };
}
